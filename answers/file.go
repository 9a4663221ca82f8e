package answers

import (
	"fmt"
	"strconv"
	"strings"
)

// The kinds of file a `type: file` state may name in `accept:`, besides
// file extensions ("pdf", "docx"). They are the content types of the
// portal's file object (chat-bots-v2/entities.md#file: file, image,
// video, audio) without "file", which is any file.
const (
	FileImage = "image"
	FileVideo = "video"
	FileAudio = "audio"
)

// DefaultMaxFileSize is the largest client file a `type: file` state takes
// without max_size: 100 MB, the most a file in a Bitrix24 chat can be
// (imbot.v2.File.upload: "Maximum size — 100 MB"), so that by default the
// bot takes every file the portal does.
const DefaultMaxFileSize = 100 << 20

// ClientFile is a file a client sent, as the channel describes it. Size
// is -1 when the channel does not say.
type ClientFile struct {
	ID        string // the file's id on the portal (Drive)
	Name      string // the file name with its extension: "photo.jpg"
	URL       string // a lasting link to it, "" when the channel gives none
	Size      int64  // bytes; -1 when not known
	Type      string // the portal's content type (file, image, video, audio), "" when not given
	Extension string // lower case, without the dot; from Name when not given
}

// Ext is the file's extension in lower case, without the dot.
func (f ClientFile) Ext() string {
	if f.Extension != "" {
		return strings.ToLower(strings.TrimPrefix(f.Extension, "."))
	}
	if i := strings.LastIndexByte(f.Name, '.'); i >= 0 && i < len(f.Name)-1 {
		return strings.ToLower(f.Name[i+1:])
	}
	return ""
}

// extKinds are the extensions of each kind, for a file whose channel
// gives no content type, or says only "file".
var extKinds = map[string]string{
	"jpg": FileImage, "jpeg": FileImage, "png": FileImage, "gif": FileImage, "webp": FileImage,
	"heic": FileImage, "heif": FileImage, "bmp": FileImage, "tif": FileImage, "tiff": FileImage, "svg": FileImage,
	"mp4": FileVideo, "mov": FileVideo, "webm": FileVideo, "avi": FileVideo, "mkv": FileVideo, "3gp": FileVideo,
	"mp3": FileAudio, "ogg": FileAudio, "oga": FileAudio, "opus": FileAudio, "wav": FileAudio, "m4a": FileAudio, "aac": FileAudio, "flac": FileAudio,
}

// Kind is the file's kind: image, video or audio, or "" for any other
// file. The channel's content type wins; without one (or with "file") the
// extension decides.
func (f ClientFile) Kind() string {
	switch t := strings.ToLower(f.Type); t {
	case FileImage, FileVideo, FileAudio:
		return t
	}
	return extKinds[f.Ext()]
}

// FileKind reports whether name is one of the kinds accept: may name.
func FileKind(name string) bool {
	switch name {
	case FileImage, FileVideo, FileAudio:
		return true
	}
	return false
}

// CheckAccept says what is wrong with one item of accept:, or "" when
// nothing is: a kind (image, video, audio) or a file extension of
// letters and digits, written without the dot.
func CheckAccept(item string) string {
	switch {
	case item == "":
		return "an empty kind"
	case strings.HasPrefix(item, "."):
		return "write the extension without the dot: " + strings.TrimPrefix(item, ".")
	case len(item) > 10:
		return "not a kind (image, video, audio) nor a file extension"
	}
	for _, r := range item {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return "not a kind (image, video, audio) nor a file extension in lower case (pdf, docx)"
		}
	}
	return ""
}

// FileProblem says why a state does not take f, or "" when it does:
// larger than maxSize bytes (a size the channel does not give is not
// checked), or not of a kind or extension in accept (an empty accept
// takes every file).
func FileProblem(f ClientFile, accept []string, maxSize int64) string {
	if maxSize > 0 && f.Size > maxSize {
		return fmt.Sprintf("the file is %s, the limit is %s", FormatSize(f.Size), FormatSize(maxSize))
	}
	if len(accept) == 0 {
		return ""
	}
	kind, ext := f.Kind(), f.Ext()
	for _, a := range accept {
		if a == kind && kind != "" || a == ext && ext != "" {
			return ""
		}
	}
	what := ext
	if what == "" {
		what = "without an extension"
	} else {
		what = "." + what
	}
	return fmt.Sprintf("a file %s is not one of: %s", what, strings.Join(accept, ", "))
}

// ParseSize reads a max_size: bytes ("500000") or a number with KB, MB
// or GB (1024-based, "10MB", "2.5 MB", "500kb"), from 1 byte to
// DefaultMaxFileSize.
func ParseSize(s string) (int64, error) {
	n, err := ParseBytes(s)
	if err == nil && n > DefaultMaxFileSize {
		return 0, fmt.Errorf("%q is more than a Bitrix24 chat file can be (100MB)", s)
	}
	return n, err
}

// ParseBytes reads a size as ParseSize does, without the upper limit (a
// test's file may be larger than any chat file).
func ParseBytes(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		n      int64
	}{{"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"B", 1}} {
		if rest, ok := strings.CutSuffix(t, u.suffix); ok {
			t, mult = strings.TrimSpace(rest), u.n
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || t == "" || strings.ContainsAny(t, "eE") {
		return 0, fmt.Errorf("%q is not a size: write bytes or a number with KB, MB or GB (10MB)", s)
	}
	n := f * float64(mult)
	if n < 1 || n > 1<<40 {
		return 0, fmt.Errorf("%q: a size is from 1 byte to 1024 GB", s)
	}
	return int64(n), nil
}

// FormatSize writes a byte count for people: "48 KB", "12.5 MB".
func FormatSize(n int64) string {
	switch {
	case n >= 1<<20:
		return trimZero(float64(n)/(1<<20)) + " MB"
	case n >= 1<<10:
		return trimZero(float64(n)/(1<<10)) + " KB"
	}
	return strconv.FormatInt(n, 10) + " B"
}

func trimZero(f float64) string {
	return strconv.FormatFloat(float64(int64(f*10+0.5))/10, 'f', -1, 64)
}
