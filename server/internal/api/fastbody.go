package api

import "encoding/json"

// decodeFast is json.Unmarshal(raw, b) for the bodies backends send
// nearly always, without reflection: one object whose keys are exactly
// "id", "users" and "data", each at most once, the id and the user ids
// strings of printable ASCII without escapes, data any valid JSON value.
// It reports false, having changed nothing, for anything else (another
// key, a key in another case, an escape, a null, a syntax error), and
// json.Unmarshal then decodes and explains it as before: the fast path
// only ever gives what json.Unmarshal gives (TestDecodeFastAgreesWithUnmarshal).
func decodeFast(raw []byte, b *body) bool {
	var (
		id    string
		users []string
		data  []byte
		seen  uint8 // 1: id, 2: users, 4: data
	)
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return false
	}
	i = skipSpace(raw, i+1)
	if i < len(raw) && raw[i] == '}' {
		i++
	} else {
		for {
			key, j, ok := plainString(raw, i)
			if !ok {
				return false
			}
			i = skipSpace(raw, j)
			if i >= len(raw) || raw[i] != ':' {
				return false
			}
			i = skipSpace(raw, i+1)
			var bit uint8
			switch string(key) {
			case "id":
				bit = 1
				s, j, ok := plainString(raw, i)
				if !ok {
					return false
				}
				id, i = string(s), j
			case "users":
				bit = 2
				if users, i, ok = userIDs(raw, i); !ok {
					return false
				}
			case "data":
				bit = 4
				j := valueEnd(raw, i)
				if j <= i || !json.Valid(raw[i:j]) {
					return false
				}
				data, i = raw[i:j], j
			default:
				return false
			}
			if seen&bit != 0 {
				return false
			}
			seen |= bit
			i = skipSpace(raw, i)
			if i >= len(raw) {
				return false
			}
			if raw[i] == '}' {
				i++
				break
			}
			if raw[i] != ',' {
				return false
			}
			i = skipSpace(raw, i+1)
		}
	}
	if skipSpace(raw, i) != len(raw) {
		return false
	}
	if seen&1 != 0 {
		b.ID = id
	}
	if seen&2 != 0 {
		b.Users = users
	}
	if seen&4 != 0 {
		b.Data = append(json.RawMessage(nil), data...)
	}
	return true
}

// skipSpace returns the index of the first byte at or after i that is not
// JSON white space.
func skipSpace(raw []byte, i int) int {
	for i < len(raw) && (raw[i] == ' ' || raw[i] == '\t' || raw[i] == '\n' || raw[i] == '\r') {
		i++
	}
	return i
}

// plainString reads a JSON string at i made only of printable ASCII
// without escapes, and returns its contents and the index after it.
func plainString(raw []byte, i int) ([]byte, int, bool) {
	if i >= len(raw) || raw[i] != '"' {
		return nil, 0, false
	}
	for j := i + 1; j < len(raw); j++ {
		switch c := raw[j]; {
		case c == '"':
			return raw[i+1 : j], j + 1, true
		case c < 0x20 || c >= 0x7f || c == '\\':
			return nil, 0, false
		}
	}
	return nil, 0, false
}

// userIDs reads a JSON array of plain strings at i.
func userIDs(raw []byte, i int) ([]string, int, bool) {
	if i >= len(raw) || raw[i] != '[' {
		return nil, 0, false
	}
	i = skipSpace(raw, i+1)
	users := []string{}
	if i < len(raw) && raw[i] == ']' {
		return users, i + 1, true
	}
	for {
		s, j, ok := plainString(raw, i)
		if !ok {
			return nil, 0, false
		}
		users = append(users, string(s))
		i = skipSpace(raw, j)
		if i >= len(raw) {
			return nil, 0, false
		}
		switch raw[i] {
		case ']':
			return users, i + 1, true
		case ',':
			i = skipSpace(raw, i+1)
		default:
			return nil, 0, false
		}
	}
}

// valueEnd returns the index just after the JSON value that starts at i,
// if it is well formed; json.Valid checks that it is.
func valueEnd(raw []byte, i int) int {
	if i >= len(raw) {
		return i
	}
	switch raw[i] {
	case '"':
		return stringEnd(raw, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(raw); j++ {
			switch raw[j] {
			case '"':
				j = stringEnd(raw, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return len(raw)
	}
	j := i
	for j < len(raw) {
		switch raw[j] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return j
		}
		j++
	}
	return j
}

// stringEnd returns the index just after the JSON string that starts at
// i, or len(raw) if it does not end.
func stringEnd(raw []byte, i int) int {
	for j := i + 1; j < len(raw); j++ {
		switch raw[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(raw)
}
