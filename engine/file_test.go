package engine

import (
	"testing"

	"github.com/olbot/olbot/answers"
)

const fileSrc = `
name: claims
start: photo
states:
  photo:
    ask: "Send a photo of the broken item or its receipt (PDF)"
    retry: "Please send a photo or a PDF of up to 5 MB"
    save: photo
    type: file
    accept: [image, pdf]
    max_size: 5MB
    retries: 1
    on_fail: human
    next: score
  score:
    ask: "Got {{photo}} ({{photo.url}}). How would you rate us, 1 to 5?"
    retry: "A number from 1 to 5, please"
    save: score
    type: rating
    on_fail: human
    next: done
  done:
    say: "Thanks: {{score}}"
    finish: true
  human:
    operator: any
`

func fileEv(f answers.ClientFile) Event { return Event{Type: File, File: &f} }

var (
	photoJPG = answers.ClientFile{ID: "1057", Name: "photo.jpg", URL: "https://portal.example/disk/1057", Size: 48213, Type: "image", Extension: "jpg"}
	bigJPG   = answers.ClientFile{ID: "1058", Name: "huge.jpg", Size: 6 << 20, Type: "image"}
	zipFile  = answers.ClientFile{ID: "1059", Name: "logs.zip", Size: 1000, Type: "file"}
	pdfNoURL = answers.ClientFile{ID: "138", Name: "receipt.pdf", Size: 35341, Type: "file"}
)

func TestFileAnswer(t *testing.T) {
	retry := unnumbered("Please send a photo or a PDF of up to 5 MB")
	runCases(t, []stepCase{
		{name: "a photo is the answer", src: fileSrc, setup: []Event{start()}, ev: fileEv(photoJPG),
			want: want{moves: "photo -answer-> score", state: "score", status: Active,
				fields:  fields("photo", "photo.jpg", "photo.id", "1057", "photo.url", "https://portal.example/disk/1057"),
				actions: acts(unnumbered("Got photo.jpg (https://portal.example/disk/1057). How would you rate us, 1 to 5?"))}},
		{name: "a file with a caption answers a file ask", src: fileSrc, setup: []Event{start()},
			ev: Event{Type: Message, Text: "here it is", File: &pdfNoURL},
			want: want{moves: "photo -answer-> score", state: "score", status: Active,
				fields:  fields("photo", "receipt.pdf", "photo.id", "138", "photo.url", ""),
				actions: acts(unnumbered("Got receipt.pdf (). How would you rate us, 1 to 5?"))}},
		{name: "too large is a bad answer", src: fileSrc, setup: []Event{start()}, ev: fileEv(bigJPG),
			want: want{moves: "photo -retry-> photo", state: "photo", status: Active, retries: 1, invalid: 1, reason: "the file is 6 MB, the limit is 5 MB",
				actions: acts(retry)}},
		{name: "an unknown kind is a bad answer", src: fileSrc, setup: []Event{start()}, ev: fileEv(zipFile),
			want: want{moves: "photo -retry-> photo", state: "photo", status: Active, retries: 1, invalid: 1, reason: "a file .zip is not one of: image, pdf",
				actions: acts(retry)}},
		{name: "a text where a file is expected is a bad answer", src: fileSrc, setup: []Event{start()}, ev: msg("it is broken"),
			want: want{moves: "photo -retry-> photo", state: "photo", status: Active, retries: 1, invalid: 1, actions: acts(retry)}},
		{name: "a file event without details has no kind", src: fileSrc, setup: []Event{start()}, ev: Event{Type: File},
			want: want{moves: "photo -retry-> photo", state: "photo", status: Active, retries: 1, invalid: 1, actions: acts(retry)}},
		{name: "bad files run out into on_fail", src: fileSrc, setup: []Event{start(), fileEv(zipFile)}, ev: fileEv(bigJPG),
			want: want{moves: "photo -fail-> human", state: "human", status: HandedOff, invalid: 1, actions: acts(Operator{})}},
		{name: "a file where a rating is expected is unmatched input", src: fileSrc, setup: []Event{start(), fileEv(photoJPG)}, ev: fileEv(photoJPG),
			want: want{moves: "score -retry-> score", state: "score", status: Active, retries: 1, invalid: 1, reason: "does not ask for one",
				fields:  fields("photo", "photo.jpg", "photo.id", "1057", "photo.url", "https://portal.example/disk/1057"),
				actions: acts(unnumbered("A number from 1 to 5, please"))}},
	})
}

func TestRatingAnswer(t *testing.T) {
	base := []Event{start(), fileEv(photoJPG)}
	got := fields("photo", "photo.jpg", "photo.id", "1057", "photo.url", "https://portal.example/disk/1057")
	with := func(score string) map[string]string {
		m := fields("score", score)
		for k, v := range got {
			m[k] = v
		}
		return m
	}
	runCases(t, []stepCase{
		{name: "digit", src: fileSrc, setup: base, ev: msg("4"),
			want: want{moves: "score -answer-> done", state: "done", status: Finished, fields: with("4"), actions: acts(say("Thanks: 4"), Finish{})}},
		{name: "stars", src: fileSrc, setup: base, ev: msg("★★★★★"),
			want: want{moves: "score -answer-> done", state: "done", status: Finished, fields: with("5"), actions: acts(say("Thanks: 5"), Finish{})}},
		{name: "out of five", src: fileSrc, setup: base, ev: msg("3/5"),
			want: want{moves: "score -answer-> done", state: "done", status: Finished, fields: with("3"), actions: acts(say("Thanks: 3"), Finish{})}},
		{name: "word", src: fileSrc, setup: base, ev: msg("ужасно"),
			want: want{moves: "score -answer-> done", state: "done", status: Finished, fields: with("1"), actions: acts(say("Thanks: 1"), Finish{})}},
		{name: "six is a bad answer", src: fileSrc, setup: base, ev: msg("6"),
			want: want{moves: "score -retry-> score", state: "score", status: Active, fields: got, retries: 1, invalid: 1,
				actions: acts(unnumbered("A number from 1 to 5, please"))}},
		// "0" is the portal's own "call an operator" (README, "Ratings"):
		// it is never a rating, olbot records the handoff and sends nothing
		{name: "zero is the portal's operator call, not a rating", src: fileSrc, setup: base, ev: msg("0"),
			want: want{state: "score", status: HandedOff, fields: got, reason: "Bitrix24 calls an operator itself"}},
		// the line's own rating prompt comes when the operator closes the
		// session; the client's reply reaches a handed-off dialog and is ignored
		{name: "a reply to the line's own rating prompt after a handoff is ignored", src: fileSrc,
			setup: append(base[:len(base):len(base)], msg("0")), ev: msg("5"),
			want: want{outcome: Ignored, state: "score", status: HandedOff, fields: got, reason: "an operator has the dialog"}},
	})
}
