package answers

import "testing"

func TestParseRating(t *testing.T) {
	runParse(t, Rating, []parseCase{
		{"digit", "4", "4", true},
		{"digit with punctuation", " 5! ", "5", true},
		{"one", "1", "1", true},
		{"out of five slash", "5/5", "5", true},
		{"slash with spaces", "3 / 5", "3", true},
		{"из", "4 из 5", "4", true},
		{"of", "2 of 5", "2", true},
		{"out of", "4 out of 5", "4", true},
		{"stars word", "4 stars", "4", true},
		{"звезды", "3 звезды", "3", true},
		{"black stars", "★★★★", "4", true},
		{"emoji stars", "⭐⭐⭐", "3", true},
		{"emoji stars with selector", "⭐\uFE0F⭐\uFE0F", "2", true},
		{"filled and empty stars", "★★★☆☆", "3", true},
		{"asterisks", "*****", "5", true},
		{"spaced stars", "★ ★", "2", true},
		{"отлично", "Отлично!", "5", true},
		{"great", "great", "5", true},
		{"хорошо", "хорошо", "4", true},
		{"так себе", "так себе", "3", true},
		{"плохо", "плохо", "2", true},
		{"ужасно", "ужасно", "1", true},
		{"terrible", "Terrible.", "1", true},
		{"zero is the portal's operator call", "0", "", false},
		{"six", "6", "", false},
		{"ten", "10", "", false},
		{"out of ten", "8/10", "", false},
		{"five of ten", "5 of 10", "", false},
		{"decimal", "4.5", "", false},
		{"negative", "-3", "", false},
		{"six stars", "★★★★★★", "", false},
		{"empty stars only", "☆☆☆", "", false},
		{"stars and text", "★★★ ok", "", false},
		{"sentence", "it was great, thanks", "", false},
		{"empty", "", "", false},
	})
}

func TestFileProblem(t *testing.T) {
	photo := ClientFile{ID: "1057", Name: "photo.jpg", Size: 48213, Type: "image", Extension: "jpg"}
	pdf := ClientFile{ID: "138", Name: "report.pdf", Size: 35341, Type: "file", Extension: "pdf"}
	bare := ClientFile{ID: "7", Name: "IMG_0001.HEIC", Size: -1}
	noExt := ClientFile{ID: "8", Name: "README", Size: 10}
	for _, tc := range []struct {
		name   string
		f      ClientFile
		accept []string
		max    int64
		want   string
	}{
		{"any file", pdf, nil, DefaultMaxFileSize, ""},
		{"image by type", photo, []string{"image", "pdf"}, 0, ""},
		{"pdf by extension", pdf, []string{"image", "pdf"}, 0, ""},
		{"image by extension, no type", bare, []string{"image"}, 0, ""},
		{"unknown size is not checked", bare, nil, 1, ""},
		{"not accepted", pdf, []string{"image"}, 0, "a file .pdf is not one of: image"},
		{"no extension", noExt, []string{"pdf"}, 0, "a file without an extension is not one of: pdf"},
		{"too large", photo, nil, 40 << 10, "the file is 47.1 KB, the limit is 40 KB"},
		{"at the limit", photo, nil, 48213, ""},
		{"too large before the kind", pdf, []string{"image"}, 1 << 10, "the file is 34.5 KB, the limit is 1 KB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := FileProblem(tc.f, tc.accept, tc.max); got != tc.want {
				t.Fatalf("FileProblem=%q, want %q", got, tc.want)
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		err  bool
	}{
		{"500000", 500000, false},
		{"10MB", 10 << 20, false},
		{"2.5 MB", 2.5 * (1 << 20), false},
		{"500kb", 500 << 10, false},
		{"1 GB", 0, true},
		{"100MB", 100 << 20, false},
		{"ten", 0, true},
		{"", 0, true},
		{"0", 0, true},
		{"1e6", 0, true},
		{"-5MB", 0, true},
	} {
		got, err := ParseSize(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseSize(%q)=%d, %v; want %d, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestCheckAccept(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"image", ""}, {"pdf", ""}, {"docx", ""}, {"mp3", ""},
		{".pdf", "write the extension without the dot: pdf"},
		{"PDF", "not a kind (image, video, audio) nor a file extension in lower case (pdf, docx)"},
		{"", "an empty kind"},
		{"application/pdf", "not a kind (image, video, audio) nor a file extension"},
	} {
		if got := CheckAccept(tc.in); got != tc.want {
			t.Errorf("CheckAccept(%q)=%q, want %q", tc.in, got, tc.want)
		}
	}
}
