package bitrix24

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestFiles(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files any
		want  []File
	}{
		{"none", nil, nil},
		{"not a map", "1057", nil},
		{"map by id, in id order", map[string]any{
			"1100": map[string]any{"id": "1100", "name": "b.png", "size": "10", "type": "image", "extension": "PNG", "urlShow": "https://p/1100"},
			"999":  map[string]any{"id": "999", "name": "a.pdf", "size": "20", "type": "file", "urlShow": "", "urlDownload": "https://p/d/999"},
		}, []File{
			{ID: "999", Name: "a.pdf", Size: 20, Type: "file", URL: "https://p/d/999"},
			{ID: "1100", Name: "b.png", Size: 10, Type: "image", Extension: "png", URL: "https://p/1100"},
		}},
		{"no size, bad size", []any{
			map[string]any{"id": "1", "name": "x"},
			map[string]any{"id": "2", "name": "y", "size": "-5"},
		}, []File{{ID: "1", Name: "x", Size: -1}, {ID: "2", Name: "y", Size: -1}}},
		{"an entry without an id is skipped", []any{map[string]any{"name": "x"}, "junk"}, nil},
		{"JSON numbers", []any{map[string]any{"id": json.Number("138"), "size": json.Number("35341"), "name": "report.pdf"}},
			[]File{{ID: "138", Name: "report.pdf", Size: 35341}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := &Event{Data: map[string]any{"PARAMS": map[string]any{"FILES": tc.files}}}
			if got := ev.Files(); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Files() = %+v, want %+v", got, tc.want)
			}
			m := V2Msg{Params: map[string]any{"files": tc.files}}
			want := append([]File(nil), tc.want...)
			for i := range want {
				want[i].URL = "" // v2 keeps no link
			}
			if got := m.Files(); !reflect.DeepEqual(got, want) {
				t.Fatalf("V2Msg.Files() = %+v, want %+v", got, want)
			}
		})
	}
}
