package auth

import (
	"unicode"
	"unicode/utf8"
)

// visible reports whether every character of s shows as itself: letters,
// marks, numbers, punctuation, symbols and the ASCII space. It refuses
// what could make one name pass for another in logs and dashboards:
// control characters (Cc: U+0000-U+001F, U+007F-U+009F, so U+0085 NEL),
// format characters (Cf: U+200B zero width space, U+200D joiner, U+202E
// right-to-left override, U+2066 isolates, U+FEFF), the line and paragraph
// separators (Zl, Zp), spaces other than U+0020 (Zs: U+00A0, U+3000),
// the default-ignorable letters, private-use and unassigned code points,
// and invalid UTF-8.
func visible(s string) bool {
	for _, r := range s {
		switch {
		case r == ' ':
		case r == utf8.RuneError:
			// Invalid UTF-8 decodes to it; a real U+FFFD hides what was meant.
			return false
		case unicode.Is(unicode.Zs, r), unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r):
			// Other_Default_Ignorable_Code_Point: the Hangul fillers
			// U+115F, U+3164 and kin render as nothing though they are
			// letters. Variation selectors stay: emoji need U+FE0F.
			return false
		case !unicode.IsGraphic(r):
			// IsGraphic is L, M, N, P, S and Zs: so Cc, Cf, Co, Cs, Zl, Zp
			// and unassigned code points end here.
			return false
		}
	}
	return true
}
