package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/fakeportal"
	"github.com/olbot/olbot/outbox"
	"github.com/olbot/olbot/server"
)

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// runRegister registers the Open Lines bot through an incoming webhook and
// prints the settings `olbot serve` needs next.
func runRegister(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlags("register", "register --webhook URL --handler URL [--name NAME] [--code CODE]", stderr)
	webhook := fs.String("webhook", os.Getenv("OLBOT_WEBHOOK"), "incoming webhook https://PORTAL/rest/USER/SECRET/ with scopes imbot, imopenlines, crm (env OLBOT_WEBHOOK)")
	handler := fs.String("handler", "", "public URL of olbot's /bitrix24/events, e.g. https://bot.example.com/bitrix24/events")
	name := fs.String("name", "olbot", "the bot's name as operators and clients see it")
	code := fs.String("code", outbox.BotCode, "the bot's CODE, unique on the portal")
	clientID := fs.String("client-id", "", "CLIENT_ID to register with (default: a new random one)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *webhook == "" || *handler == "" {
		fs.Usage()
		return 2
	}
	h, err := url.Parse(*handler)
	if err != nil || h.Host == "" || (h.Scheme != "https" && h.Scheme != "http") {
		fmt.Fprintf(stderr, "olbot register: --handler %q is not an http(s) URL\n", *handler)
		return 2
	}
	if *clientID == "" {
		*clientID = "olbot_" + randomHex(12)
	}
	secret := randomHex(16)
	q := h.Query()
	q.Set("k", secret)
	h.RawQuery = q.Encode()
	client, err := bitrix24.NewWebhook(*webhook, *clientID)
	if err != nil {
		fmt.Fprintln(stderr, "olbot register:", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	botID, err := client.Register(ctx, bitrix24.RegisterParams{Code: *code, Type: "O", OpenLine: true, EventHandler: h.String(),
		Properties: bitrix24.BotProperties{Name: *name, WorkPosition: "Open Lines assistant", Color: "AZURE"}})
	if err != nil {
		fmt.Fprintln(stderr, "olbot register: the portal refused:", err)
		var ae *bitrix24.APIError
		if errors.As(err, &ae) && (ae.Code == "ACCESS_DENIED" || ae.Code == "insufficient_scope") {
			fmt.Fprintln(stderr, "hint: give the webhook the imbot, imopenlines and crm scopes")
		}
		return 1
	}
	fmt.Fprintf(stdout, `Registered the Open Lines bot %q: BOT_ID %d.

Keep these; olbot serve needs them (they are secrets):
  OLBOT_WEBHOOK=%s
  OLBOT_CLIENT_ID=%s
  OLBOT_HANDLER_SECRET=%s

Next:
  1. Start olbot where %s reaches it:
       OLBOT_WEBHOOK=… OLBOT_CLIENT_ID=%s OLBOT_HANDLER_SECRET=… OLBOT_ADMIN_TOKEN=… \
       olbot serve --listen 0.0.0.0:8080 --scenarios ./scenarios
  2. In Bitrix24: Contact Center → the Open Line → settings → "Chat-bot": pick %q,
     and set how long before the chat moves on to operators.
  3. Write to the line from a channel (site widget, Telegram…): the scenario for that line answers.
`, *name, botID, *webhook, *clientID, secret, h.Scheme+"://"+h.Host, *clientID, *name)
	return 0
}

// runFakePortal runs the in-repo fake portal for local demos: it installs
// olbot (ONAPPINSTALL), opens a chat, posts what you type as the client's
// messages, and prints every REST call olbot makes.
func runFakePortal(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlags("fakeportal", "fakeportal [--api v1|v2] [--listen ADDR] [--olbot URL] [--line N]", stderr)
	api := fs.String("api", "v1", "v1: install olbot as a local application and post its events; v2: let olbot register an imbot.v2 bot through the webhook and poll (fetch mode)")
	listen := fs.String("listen", "127.0.0.1:8090", "where the fake portal listens")
	olbot := fs.String("olbot", "http://127.0.0.1:8080", "olbot to install into and chat with; empty: only serve the REST API")
	line := fs.Int("line", 1, "Open Line id of the demo chat")
	client := fs.String("client", "Anna", "the client's first name")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *api != "v1" && *api != "v2" {
		fmt.Fprintf(stderr, "olbot fakeportal: --api %q: want v1 or v2\n", *api)
		return 2
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(stderr, "olbot fakeportal:", err)
		return 1
	}
	p := fakeportal.New(fakeportal.Config{BaseURL: "http://" + ln.Addr().String(), Burst: -1})
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	fmt.Fprintf(stdout, "fake portal on http://%s\n  REST (OAuth):  %s\n  webhook:       %s\n  token refresh: %s\n",
		ln.Addr(), p.Endpoint(), p.WebhookURL(), p.TokenURL())
	if *api == "v2" {
		return fakePortalV2(ctx, p, *line, *client, stdin, stdout)
	}
	if *olbot == "" {
		<-ctx.Done()
		return 0
	}
	handler := strings.TrimRight(*olbot, "/") + "/bitrix24/events"
	fmt.Fprintf(stdout, "installing into %s (start olbot with --oauth-url %s --app-client-id %s --app-client-secret %s to let it refresh tokens)\n",
		handler, p.TokenURL(), p.Config().ClientID, p.Config().ClientSecret)
	if err := post(ctx, p, handler, p.InstallEvent()); err != nil {
		fmt.Fprintln(stderr, "olbot fakeportal: install:", err)
		return 1
	}
	printCalls := callPrinter(p, stdout)
	for deadline := time.Now().Add(10 * time.Second); len(p.Bots()) == 0 && time.Now().Before(deadline) && ctx.Err() == nil; {
		printCalls(200 * time.Millisecond) // until olbot registered its bot
	}
	printCalls(time.Second)
	if bots := p.V2Bots(); len(bots) > 0 {
		// olbot registered an imbot.v2 bot (--bot-api, by default v2 for a first install)
		return fakeAppV2(ctx, p, bots[0], *line, *client, stdin, stdout, printCalls)
	}
	chat := p.Chat(*line, 1000+*line, bitrix24.User{FirstName: *client, Name: *client})
	if err := post(ctx, p, handler, chat.Join()); err != nil {
		fmt.Fprintln(stderr, "olbot fakeportal: join:", err)
		return 1
	}
	printCalls(time.Second)
	fmt.Fprintf(stdout, "chat open on line %d as %s: type messages, %s to send a file, /quit to stop\n", *line, *client, fileUsage)
	in := bufio.NewScanner(stdin)
	for ctx.Err() == nil {
		fmt.Fprint(stdout, "client> ")
		if !in.Scan() {
			break
		}
		text := in.Text()
		if text == "/quit" {
			break
		}
		form := chat.Say(text)
		if args, ok := fileCommand(text); ok {
			f, caption, err := parseFileCommand(args)
			if err != nil {
				fmt.Fprintln(stdout, "  ! ", err)
				continue
			}
			f.ID = "" // the portal gives the id
			form = chat.SendFileOf(bitrix24.File(f), caption)
		}
		if err := post(ctx, p, handler, form); err != nil {
			fmt.Fprintln(stdout, "  ! ", err)
		}
		printCalls(time.Second)
	}
	return 0
}

// callPrinter returns a function that prints the REST calls olbot made
// since it last ran, for wait (secrets left out).
func callPrinter(p *fakeportal.Portal, stdout io.Writer) func(wait time.Duration) {
	seen := 0
	return func(wait time.Duration) {
		deadline := time.Now().Add(wait)
		for {
			calls := p.Calls()
			for ; seen < len(calls); seen++ {
				c := calls[seen]
				if emptyPoll(c) {
					continue // fetch mode polls every few seconds: only polls that brought events are news
				}
				b, _ := json.Marshal(withoutSecrets(c.Params))
				status := "ok"
				if c.Error != "" {
					status = c.Error
				}
				fmt.Fprintf(stdout, "  portal ← %s %s (%s)\n", c.Method, b, status)
			}
			if time.Now().After(deadline) {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// withoutSecrets is params without the tokens, also inside fields.
func withoutSecrets(params map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range params {
		switch k {
		case "auth", "CLIENT_ID", "botToken":
		case "fields":
			if f, ok := v.(map[string]any); ok {
				v = withoutSecrets(f)
			}
			out[k] = v
		default:
			out[k] = v
		}
	}
	return out
}

// emptyPoll reports whether c is an imbot.v2.Event.get that found nothing.
func emptyPoll(c fakeportal.Call) bool {
	if c.Method != strings.ToLower(bitrix24.MethodV2EventGet) || c.Error != "" {
		return false
	}
	res, _ := c.Result.(map[string]any)
	events, _ := res["events"].([]any)
	return len(events) == 0
}

func post(ctx context.Context, p *fakeportal.Portal, handler string, form url.Values) error {
	resp, err := p.Post(ctx, handler, form)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("olbot answered %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}

// checkServer asks a running server what saving each file would do (dry run).
func checkServer(ctx context.Context, base, token string, files []string, stdout, stderr io.Writer) int {
	code := 0
	a := apiClient{base: base, token: token}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintln(stderr, "olbot check:", err)
			return 2
		}
		name, err := a.serverFile(ctx, f, false)
		if err != nil {
			fmt.Fprintln(stderr, "olbot check:", err)
			return 2
		}
		u := strings.TrimRight(base, "/") + "/v1/scenarios/check?file=" + url.QueryEscape(name)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(string(src)))
		if err != nil {
			fmt.Fprintln(stderr, "olbot check:", err)
			return 2
		}
		req.Header.Set("Content-Type", "application/yaml")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Fprintln(stderr, "olbot check: server unreachable:", err)
			return 2
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		var dr server.DryRunResponse
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusUnprocessableEntity || json.Unmarshal(body, &dr) != nil {
			fmt.Fprintf(stderr, "olbot check: the server answered %s: %s\n", resp.Status, strings.TrimSpace(string(body)))
			return 2
		}
		fmt.Fprint(stdout, dr.Summary())
		if !dr.OK {
			code = 1
		}
	}
	return code
}
