package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"time"

	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/fakeportal"
)

// fakePortalV2 demonstrates the fetch route: it waits for olbot to
// register its imbot.v2 bot through the webhook, then opens a chat on
// line, queues what you type as the client's messages for olbot to poll,
// and prints every REST call olbot makes.
func fakePortalV2(ctx context.Context, p *fakeportal.Portal, line int, client string, stdin io.Reader, stdout io.Writer) int {
	fmt.Fprintf(stdout, "start olbot in another terminal (no public address needed):\n  olbot serve --webhook %s --poll-interval 2s\nwaiting for it to register its imbot.v2 bot…\n", p.WebhookURL())
	printCalls := callPrinter(p, stdout)
	var bot fakeportal.V2Bot
	for len(p.V2Bots()) == 0 {
		select {
		case <-ctx.Done():
			return 0
		case <-time.After(200 * time.Millisecond):
		}
	}
	bot = p.V2Bots()[0]
	printCalls(0)
	chat := p.V2Chat(bot.ID, line, 2000+line, bitrix24.User{FirstName: client, Name: client})
	// waitPolled prints olbot's calls until it confirmed the chat's events
	// and its replies went out.
	waitPolled := func() {
		for p.V2Pending(bot.ID) > 0 && ctx.Err() == nil {
			printCalls(200 * time.Millisecond)
		}
		printCalls(time.Second)
	}
	chat.Join()
	waitPolled()
	fmt.Fprintf(stdout, "bot %d polls; chat %s open on line %d as %s: type messages, %s to send a file, /quit to stop\n", bot.ID, chat.DialogID(), line, client, fileUsage)
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
		v2Say(chat, text, stdout)
		waitPolled()
	}
	return 0
}

// fakeAppV2 chats with the imbot.v2 bot a local application registered:
// in webhook mode the portal posts each event to the bot's webhookUrl as it
// happens; in fetch mode olbot polls them.
func fakeAppV2(ctx context.Context, p *fakeportal.Portal, bot fakeportal.V2Bot, line int, client string, stdin io.Reader, stdout io.Writer, printCalls func(time.Duration)) int {
	chat := p.V2Chat(bot.ID, line, 3000+line, bitrix24.User{FirstName: client, Name: client})
	deliver := func() {
		if bot.EventMode == "webhook" {
			for _, status := range p.V2Deliver(ctx, bot.ID) {
				if status != 200 {
					fmt.Fprintf(stdout, "  ! olbot answered the event post with HTTP %d\n", status)
				}
			}
			printCalls(time.Second)
			return
		}
		for p.V2Pending(bot.ID) > 0 && ctx.Err() == nil {
			printCalls(200 * time.Millisecond)
		}
		printCalls(time.Second)
	}
	chat.Join()
	deliver()
	fmt.Fprintf(stdout, "imbot.v2 bot %d (%s mode); chat %s open on line %d as %s: type messages, %s to send a file, /quit to stop\n", bot.ID, bot.EventMode, chat.DialogID(), line, client, fileUsage)
	in := bufio.NewScanner(stdin)
	for ctx.Err() == nil {
		fmt.Fprint(stdout, "client> ")
		if !in.Scan() || in.Text() == "/quit" {
			break
		}
		v2Say(chat, in.Text(), stdout)
		deliver()
	}
	return 0
}

// v2Say queues the client's line: a message, or a file for /file.
func v2Say(chat *fakeportal.V2Chat, text string, stdout io.Writer) {
	args, ok := fileCommand(text)
	if !ok {
		chat.Say(text)
		return
	}
	f, caption, err := parseFileCommand(args)
	if err != nil {
		fmt.Fprintln(stdout, "  ! ", err)
		return
	}
	f.ID = "" // the portal gives the id
	chat.SendFile(bitrix24.File(f), caption)
}
