package frame_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/wspush/wspush/frame"
)

// utf8Tests are texts for the incremental validator, valid or not.
var utf8Tests = []string{
	"",
	"a",
	"Hello, world",
	"héllo",
	"€",
	"日本語",
	"\U0001F600",               // 😀, F0 9F 98 80
	"a\U0001F600b€cé日",         // every length mixed
	"\u007f\u0080",             // last 1-byte, first 2-byte
	"\u07ff\u0800",             // last 2-byte, first 3-byte
	"\uffff\U00010000",         // last 3-byte, first 4-byte
	"\U0010FFFF",               // F4 8F BF BF, the largest code point
	"\xed\x9f\xbf",             // U+D7FF, just below the surrogates
	"\xee\x80\x80",             // U+E000, just above them
	"\xed\xa0\x80",             // U+D800, a surrogate
	"\xed\xbf\xbf",             // U+DFFF, a surrogate
	"\xed\xa0\x80\xed\xb0\x80", // a surrogate pair, which UTF-8 forbids
	"\xc0\x80",                 // overlong NUL
	"\xc1\xbf",                 // overlong U+007F
	"\xe0\x80\x80",             // overlong NUL
	"\xe0\x9f\xbf",             // overlong U+07FF
	"\xf0\x80\x80\x80",         // overlong NUL
	"\xf0\x8f\xbf\xbf",         // overlong U+FFFF
	"\xf4\x90\x80\x80",         // U+110000, above U+10FFFF
	"\xf5\x80\x80\x80",         // lead byte above F4
	"\xf8\x88\x80\x80\x80",     // 5-byte form
	"\xfe",
	"\xff",
	"\x80", // lone continuation
	"\xbf",
	"a\x80b",
	"é\x80",                // one continuation too many
	"\xc2",                 // truncated 2-byte
	"\xe2\x82",             // truncated 3-byte
	"\xf0\x9f\x98",         // truncated 4-byte
	"\xe2\x82a",            // 3-byte cut by ASCII
	"\xf0\x9f\x98a",        // 4-byte cut by ASCII
	"\xf0\x9f\xe2\x82\xac", // 4-byte cut by a whole 3-byte
	"héllo\xff",
	"κόσμε\xce", // Autobahn 6.x style: valid text, then a cut rune
	"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64",
	strings.Repeat("abcdefgh", 40) + "€",
	strings.Repeat("€", 100),
	strings.Repeat("a", 100) + "\xed\xa0\x80" + strings.Repeat("a", 100),
	strings.Repeat("\U0001F600", 50) + "\xf0\x9f",
}

// validPrefix reports whether p can be continued into valid UTF-8: it is
// valid, or valid up to a last sequence that is cut short but correct so far.
func validPrefix(p []byte) bool {
	if utf8.Valid(p) {
		return true
	}
	for k := max(len(p)-3, 0); k < len(p); k++ {
		if utf8.Valid(p[:k]) && !utf8.FullRune(p[k:]) {
			return true
		}
	}
	return false
}

// checkUTF8 writes text to a fresh validator in the pieces that splits
// (ascending offsets) cut it into, and fails t unless every Write and the
// final Done agree with the unicode/utf8 package.
func checkUTF8(t *testing.T, text []byte, splits ...int) {
	t.Helper()
	var u frame.UTF8
	ok, start := true, 0
	for _, end := range append(splits, len(text)) {
		got := u.Write(text[start:end])
		if ok {
			// Once failed, a validator stays failed; until then it fails
			// exactly when the text so far cannot be valid UTF-8.
			ok = validPrefix(text[:end])
		}
		if got != ok {
			t.Fatalf("%q split at %v: Write(%q) = %v; want %v", text, splits, text[start:end], got, ok)
		}
		start = end
	}
	if got, want := u.Done(), utf8.Valid(text); got != want {
		t.Fatalf("%q split at %v: Done() = %v; want %v", text, splits, got, want)
	}
}

func TestUTF8Whole(t *testing.T) {
	for _, s := range utf8Tests {
		checkUTF8(t, []byte(s))
	}
}

func TestUTF8ByteByByte(t *testing.T) {
	for _, s := range utf8Tests {
		splits := make([]int, 0, len(s))
		for i := range len(s) {
			splits = append(splits, i)
		}
		checkUTF8(t, []byte(s), splits...)
	}
}

// TestUTF8EverySplit cuts each text in two and in three at every point,
// empty pieces included.
func TestUTF8EverySplit(t *testing.T) {
	for _, s := range utf8Tests {
		for i := 0; i <= len(s); i++ {
			checkUTF8(t, []byte(s), i)
			if len(s) > 24 {
				continue
			}
			for j := i; j <= len(s); j++ {
				checkUTF8(t, []byte(s), i, j)
			}
		}
	}
}

// TestUTF8DoneFalseInsideRune checks that a text ending mid-rune is not
// done though no byte so far was wrong, and that the rest completes it.
func TestUTF8DoneFalseInsideRune(t *testing.T) {
	for _, s := range []string{"é", "€", "\U0001F600", "\U0010FFFF"} {
		for i := 1; i < len(s); i++ {
			var u frame.UTF8
			if !u.Write([]byte("x" + s[:i])) {
				t.Fatalf("Write(%q) = false", "x"+s[:i])
			}
			if u.Done() {
				t.Fatalf("Done() after %q = true", "x"+s[:i])
			}
			if !u.Write([]byte(s[i:])) || !u.Done() {
				t.Fatalf("%q then %q: not done", "x"+s[:i], s[i:])
			}
		}
	}
}

// TestUTF8StaysFailed checks that a failed validator fails every Write,
// even of nothing or of valid text, until Reset.
func TestUTF8StaysFailed(t *testing.T) {
	var u frame.UTF8
	if u.Write([]byte("ok\xff")) {
		t.Fatal("Write(ok\\xff) = true")
	}
	for _, s := range []string{"", "fine", "\x80"} {
		if u.Write([]byte(s)) || u.Done() {
			t.Fatalf("after a failure, Write(%q) or Done() = true", s)
		}
	}
	u.Reset()
	if !u.Write([]byte("fine")) || !u.Done() {
		t.Fatal("after Reset, Write(fine) or Done() = false")
	}
}

// TestUTF8Reset checks that Reset drops a sequence in progress.
func TestUTF8Reset(t *testing.T) {
	var u frame.UTF8
	u.Write([]byte("\xe2\x82"))
	u.Reset()
	if !u.Done() || u.Write([]byte("\xac")) {
		t.Fatal("Reset kept the sequence in progress")
	}
}

// FuzzUTF8 compares the validator, fed the input in two pieces split where
// the fuzzer chooses, with the unicode/utf8 package.
func FuzzUTF8(f *testing.F) {
	for i, s := range utf8Tests {
		f.Add([]byte(s), uint(i))
	}
	f.Fuzz(func(t *testing.T, text []byte, split uint) {
		checkUTF8(t, text, int(split%uint(len(text)+1)))
	})
}
