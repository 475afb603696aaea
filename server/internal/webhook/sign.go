package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"time"
)

// SignatureHeader carries "sha256=" and the lowercase hex HMAC-SHA256,
// under Config.Secret, of the TimestampHeader's value, a dot and the
// request body (Sign).
const SignatureHeader = "X-Wspush-Signature"

// TimestampHeader carries the Unix time in seconds at which a signed
// request was sent; it is part of what is signed.
const TimestampHeader = "X-Wspush-Timestamp"

// Sign returns the lowercase hex HMAC-SHA256 under secret of timestamp,
// a dot and body: what a backend compares, in constant time, with the
// SignatureHeader after its "sha256=" prefix, timestamp being the
// TimestampHeader. Signing the time lets the backend refuse a
// request replayed later (docs/webhook.md).
func Sign(secret []byte, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// sign sets the TimestampHeader, now, and the SignatureHeader of body in
// h. Without Config.Secret it sets neither.
func (w *Webhook) sign(h http.Header, body []byte) {
	if w.cfg.Secret == "" {
		return
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	h.Set(TimestampHeader, ts)
	h.Set(SignatureHeader, "sha256="+Sign([]byte(w.cfg.Secret), ts, body))
}
