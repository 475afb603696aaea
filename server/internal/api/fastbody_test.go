package api

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// bodySeeds are bodies the fast path takes and bodies it must leave to
// json.Unmarshal.
var bodySeeds = []string{
	`{"users":["u1"],"data":"T=1;P=2;xxxx"}`,
	`{"users":["alice","bob"],"data":{"n":1,"s":"a\"}b","l":[1,{"x":[]}]},"id":"order-7"}`,
	` { "id" : "x" , "data" : -1.5e3 , "users" : [ "a" , "b" ] } ` + "\n",
	`{"data":true,"users":[]}`,
	`{"data":null,"users":["a"]}`,
	`{"data":"\u00e9\n","users":["a"]}`,
	`{}`,
	`{"users":["a"]}`,
	// Left to json.Unmarshal: each differs from the above in one way.
	`{"Users":["a"],"data":1}`,
	`{"users":["a"],"data":1,"extra":2}`,
	`{"users":["a"],"users":["b"],"data":1}`,
	`{"users":["\u0061"],"data":1}`,
	`{"users":["é"],"data":1}`,
	`{"users":null,"data":1}`,
	`{"users":["a"],"id":null,"data":1}`,
	`{"users":["a"],"data":1,}`,
	`{"users":["a",],"data":1}`,
	`{"users":["a"],"data":1}x`,
	`{"users":["a"],"data":1x}`,
	`{"users":["a"],"data":{"a":1}`,
	`{"users":["a"],"data":}`,
	`{"users":["a"],"data":"open}`,
	`{"users":["a"] "data":1}`,
	`{"users":"a","data":1}`,
	`{"users":[1],"data":1}`,
	`[1]`,
	``,
	`{"users":["a"],"data":[1,2]]}`,
	`{"users":["a"],"data":tru}`,
	`{"users":["a"],"data":01}`,
}

// The fast path gives exactly what json.Unmarshal gives, or declines.
func FuzzDecodeFast(f *testing.F) {
	for _, s := range bodySeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var fast, slow body
		if !decodeFast([]byte(s), &fast) {
			if !reflect.DeepEqual(fast, body{}) {
				t.Fatalf("declined %q but changed the body: %+v", s, fast)
			}
			return
		}
		if err := json.Unmarshal([]byte(s), &slow); err != nil {
			t.Fatalf("fast path took %q, which json.Unmarshal refuses: %v", s, err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%q: fast path gave %+v, json.Unmarshal %+v", s, fast, slow)
		}
	})
}

// The bodies a backend sends nearly always take the fast path.
func TestDecodeFastTakesTheUsualBodies(t *testing.T) {
	for _, s := range bodySeeds[:8] {
		var b body
		if !decodeFast([]byte(s), &b) {
			t.Errorf("declined %q", s)
		}
	}
	for _, s := range bodySeeds[8:] {
		var b body
		if decodeFast([]byte(s), &b) {
			t.Errorf("took %q, which is json.Unmarshal's to decode", s)
		}
	}
	var b body
	raw := []byte(`{"users":["u1"],"data":"x"}`)
	if !decodeFast(raw, &b) {
		t.Fatal("declined a push")
	}
	raw[strings.Index(string(raw), "x")] = 'y'
	if string(b.Data) != `"x"` || b.Users[0] != "u1" {
		t.Fatalf("the body shares the buffer it was read from: %+v", b)
	}
}
