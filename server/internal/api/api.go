package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wspush/wspush/pool"
	"github.com/wspush/wspush/server/internal/auth"
	"github.com/wspush/wspush/server/internal/wire"
)

// Limits of the HTTP API (docs/api.md).
const (
	// MaxAPIBody caps a request body; a larger one gets 413.
	MaxAPIBody = 1 << 20
	// MaxPushUsers caps the users of one push or room membership call.
	MaxPushUsers = 10000
	// APITimeout bounds how long a call waits for the event loops to do its
	// work; past it the answer is 504.
	APITimeout = 10 * time.Second
)

// Backend is what the HTTP API calls: the server's goroutine-safe doors,
// which hand the work on (to the event loops, to the cluster) and wait for
// it, within ctx.
type Backend interface {
	// Push, Broadcast and Publish take the message's id, "" for none.
	Push(ctx context.Context, id string, users []string, data json.RawMessage) (wire.PushResult, error)
	Broadcast(ctx context.Context, id string, data json.RawMessage) (int, error)
	Publish(ctx context.Context, id, room string, data json.RawMessage) (int, error)
	AddToRoom(ctx context.Context, room string, users []string) (int, error)
	RemoveFromRoom(ctx context.Context, room string, users []string) (int, error)
	Kick(ctx context.Context, user string) (int, error)
	Presence(ctx context.Context, user string) wire.Presence
	Batcher
	Receipter
	Historian
	Roomer
	// Stats is the body of GET /v1/stats.
	Stats() any
	// Health is the status and body of GET /healthz.
	Health() (int, any)
}

// Config configures the HTTP API.
type Config struct {
	// Key is the bearer key every path but /healthz requires. Empty
	// means none.
	Key string
	// Demo, when set, is served at /demo/. Nil serves nothing there.
	Demo fs.FS
	// Collectors are the metrics of the server's parts, served at
	// /metrics with the API's own.
	Collectors []prometheus.Collector
	// Logger receives the API's warnings. Nil discards them.
	Logger *slog.Logger
	// BatchMessages and BatchBytes cap one POST /v1/push/batch; zero
	// means DefaultBatchMessages, DefaultBatchBytes (batch.go).
	BatchMessages, BatchBytes int
	// Version is the program's version, the version label of
	// wspush_build_info. Empty means "dev".
	Version string
	// Console, when set, serves /console/ (the operator console, with a
	// login of its own instead of the bearer key), given the registry of
	// /metrics. Nil serves nothing there.
	Console func(prometheus.Gatherer) http.Handler
}

// handler serves the HTTP API. It only calls the Backend.
type handler struct {
	b   Backend
	log *slog.Logger
	m   *metrics
	key [sha256.Size]byte // SHA-256 of Config.Key, so the compare takes constant time whatever the lengths
	on  bool              // a key is required
	mux *http.ServeMux

	batchMessages, batchBytes int
	con                       http.Handler // the operator console, or nil
}

// New returns the HTTP API that the backend calls (docs/api.md): pushes,
// rooms, presence, stats, /metrics, /debug/pprof/ and /healthz. When
// cfg.Key is set, every path but /healthz requires "Authorization: Bearer
// KEY". Each handler has its own Prometheus registry.
func New(cfg Config, b Backend) http.Handler {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &handler{b: b, log: log, m: newMetrics(cfg.Collectors, cfg.Version), mux: http.NewServeMux(),
		batchMessages: cfg.BatchMessages, batchBytes: cfg.BatchBytes}
	if cfg.Key != "" {
		a.key = sha256.Sum256([]byte(cfg.Key))
		a.on = true
	}
	routes := []struct {
		method, path string
		h            http.HandlerFunc
	}{
		{"POST", "/v1/push", a.push},
		{"POST", "/v1/push/batch", a.pushBatch},
		{"POST", "/v1/broadcast", a.broadcast},
		{"POST", "/v1/rooms/{room}/publish", a.publish},
		{"POST", "/v1/rooms/{room}/members", a.join},
		{"DELETE", "/v1/rooms/{room}/members", a.leave},
		{"GET", "/v1/messages/{id}", a.message},
		{"GET", "/v1/users/{user}", a.user},
		{"GET", "/v1/users/{user}/history", a.userHistory},
		{"GET", "/v1/rooms/{room}/history", a.roomHistory},
		{"GET", "/v1/rooms", a.rooms},
		{"GET", "/v1/rooms/{room}", a.room},
		{"DELETE", "/v1/users/{user}/connections", a.kick},
		{"GET", "/v1/stats", a.stats},
		{"GET", "/metrics", a.m.handler().ServeHTTP},
		{"GET", "/healthz", a.health},
	}
	// ServeMux answers a known path with the wrong method in plain text,
	// and not at all once "/" catches everything; a method-less pattern
	// per path answers 405 in JSON instead.
	allow := map[string][]string{}
	var paths []string
	for _, rt := range routes {
		a.mux.HandleFunc(rt.method+" "+rt.path, rt.h)
		if allow[rt.path] == nil {
			paths = append(paths, rt.path)
		}
		allow[rt.path] = append(allow[rt.path], rt.method)
		if rt.method == "GET" {
			allow[rt.path] = append(allow[rt.path], "HEAD")
		}
	}
	for _, p := range paths {
		a.mux.Handle(p, methodNotAllowed(allow[p]))
	}
	// Go's profiler, behind the key like everything but /healthz.
	a.mux.HandleFunc("/debug/pprof/", pprof.Index)
	a.mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	a.mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	a.mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	a.mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mountDemo(a.mux, cfg.Demo)
	if cfg.Console != nil {
		a.con = cfg.Console(a.m.reg)
	}
	a.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no API call at "+r.URL.Path+" (docs/api.md)")
	})
	return a
}

// ServeHTTP checks the API key, then routes. /healthz stays open for load
// balancers; /console/ has a login of its own.
func (a *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !a.checkKeyless(w, r) {
		return
	}
	if a.con != nil && (r.URL.Path == "/console" || strings.HasPrefix(r.URL.Path, "/console/")) {
		a.con.ServeHTTP(w, r) // its own login (docs/console.md)
		return
	}
	if a.on && r.URL.Path != "/healthz" {
		if msg := a.checkKey(r.Header.Get("Authorization")); msg != "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="wspush"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", msg)
			return
		}
	}
	a.mux.ServeHTTP(w, r)
}

// checkKey checks an Authorization header against the API key and returns
// why it fails, or "".
func (a *handler) checkKey(header string) string {
	scheme, token, ok := strings.Cut(header, " ")
	if header == "" || !ok || !strings.EqualFold(scheme, "Bearer") {
		return "the API requires a key: Authorization: Bearer KEY"
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(token)))
	if subtle.ConstantTimeCompare(sum[:], a.key[:]) != 1 {
		return "invalid API key"
	}
	return ""
}

func methodNotAllowed(methods []string) http.Handler {
	allow := strings.Join(methods, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed",
			r.Method+" is not allowed on "+r.URL.Path+"; use "+allow)
	})
}

// body is what the calls that take one may send.
type body struct {
	ID    string          `json:"id"`
	Users []string        `json:"users"`
	Data  json.RawMessage `json:"data"`
	// Receipt asks a push for receipts (messages.go).
	Receipt json.RawMessage `json:"receipt"`
}

// decode reads r's JSON body, at most MaxAPIBody bytes, into b. On failure
// it answers the request and returns false.
func decode(w http.ResponseWriter, r *http.Request, b *body) bool {
	buf := bodies.Get().(*[]byte)
	defer putBody(buf)
	raw, err := readBody(w, r, (*buf)[:0])
	*buf = raw
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "too_large",
				"the body is over "+strconv.Itoa(MaxAPIBody)+" bytes")
		} else {
			writeError(w, http.StatusBadRequest, "bad_request", "reading the body: "+err.Error())
		}
		return false
	}
	// Both copy what they keep (strings, RawMessage), so raw goes back
	// to the pool.
	if decodeFast(raw, b) {
		return true
	}
	if err := json.Unmarshal(raw, b); err != nil {
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) {
			writeError(w, http.StatusBadRequest, "bad_request", typeMismatch(typ.Field))
		} else {
			writeError(w, http.StatusBadRequest, "bad_json", "the body is not a JSON object: "+err.Error())
		}
		return false
	}
	return true
}

// bodies are the buffers that decode reads bodies into: a push's body is
// read and dropped thousands of times a second.
var bodies = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// maxPooledBody is the largest buffer that goes back to bodies; a rare
// big body does not pin its memory.
const maxPooledBody = 64 << 10

func putBody(b *[]byte) {
	if cap(*b) <= maxPooledBody {
		*b = (*b)[:0]
		bodies.Put(b)
	}
}

// readBody appends r's body to buf, at most MaxAPIBody bytes. A body of
// known length is read in one go; any other, or one announced over the
// cap, goes through http.MaxBytesReader, which answers *http.MaxBytesError
// past the cap and has net/http close the connection after the answer.
func readBody(w http.ResponseWriter, r *http.Request, buf []byte) ([]byte, error) {
	if n := r.ContentLength; n >= 0 && n <= MaxAPIBody {
		buf = slices.Grow(buf, int(n))[:n]
		_, err := io.ReadFull(r.Body, buf)
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return buf, err
	}
	rd := http.MaxBytesReader(w, r.Body, MaxAPIBody)
	for {
		buf = slices.Grow(buf, 512)
		n, err := rd.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// typeMismatch explains a body whose JSON has the wrong shape at field.
func typeMismatch(field string) string {
	if strings.HasPrefix(field, "users") {
		return "users: want an array of user id strings"
	}
	return "the body must be a JSON object"
}

// needID answers 400 and returns false if b has an id that is not 1 to
// 128 bytes of printable UTF-8.
func needID(w http.ResponseWriter, b *body) bool {
	return answer(w, checkID(b))
}

// checkID says what is wrong with b's id, or "".
func checkID(b *body) string {
	if b.ID != "" && !auth.ValidName(b.ID) {
		return "id: 1 to 128 bytes of printable UTF-8"
	}
	return ""
}

// answer answers 400 with msg and returns false, or true if msg is empty.
func answer(w http.ResponseWriter, msg string) bool {
	if msg != "" {
		writeError(w, http.StatusBadRequest, "bad_request", msg)
		return false
	}
	return true
}

// needData answers 400 and returns false if b has no data. JSON null
// counts as none: a push of null tells the client nothing.
func needData(w http.ResponseWriter, b *body) bool {
	return answer(w, checkData(b))
}

// checkData says what is wrong with b's data, or "".
func checkData(b *body) string {
	if len(b.Data) == 0 || string(b.Data) == "null" {
		return "data is required: any JSON value but null"
	}
	return ""
}

// needUsers checks b.Users, drops repeated ids (so that nobody gets a push
// twice) and answers 400 if they are not 1 to MaxPushUsers valid ids.
func needUsers(w http.ResponseWriter, b *body) bool {
	return answer(w, checkUsers(b))
}

// checkUsers is needUsers without the answer: it says what is wrong, or
// "" once it has dropped the repeated ids.
func checkUsers(b *body) string {
	n := len(b.Users)
	if n == 0 || n > MaxPushUsers {
		return "users: 1 to " + strconv.Itoa(MaxPushUsers) + " user ids required, got " + strconv.Itoa(n)
	}
	for i, u := range b.Users {
		if !auth.ValidName(u) {
			return "users[" + strconv.Itoa(i) + "]: user ids are 1 to 128 bytes of printable UTF-8"
		}
	}
	if n > 1 {
		seen := make(map[string]struct{}, n)
		b.Users = slices.DeleteFunc(b.Users, func(u string) bool {
			_, dup := seen[u]
			seen[u] = struct{}{}
			return dup
		})
	}
	return ""
}

// pathName reads the path value key (a room or a user) and answers 400
// if it is not a valid name.
func pathName(w http.ResponseWriter, r *http.Request, key string) (string, bool) {
	v := r.PathValue(key)
	if !auth.ValidName(v) {
		writeError(w, http.StatusBadRequest, "bad_request", key+": 1 to 128 bytes of printable UTF-8 required")
		return "", false
	}
	return v, true
}

// loopsCtx bounds the wait for the event loops by APITimeout.
func loopsCtx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), APITimeout)
}

// loopsFailed answers a call whose wait for the event loops ended early.
// A Backend's wire.ErrBusy, wire.ErrUnavailable and wire.ErrReplicas are answered 503 with
// Retry-After: 1, so that the backend retries (with the message's id, to
// be safe).
func (a *handler) loopsFailed(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, wire.ErrBusy):
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "busy", err.Error()+"; the call may have reached some connections: retry later")
		return
	case errors.Is(err, wire.ErrReplicas):
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "replicas", err.Error()+"; it may have reached connections already: retry with the same id, which publishes nothing again and is answered 200 once the replicas have it")
		return
	case errors.Is(err, wire.ErrUnavailable):
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "unavailable", err.Error()+"; retry later with the same id, which is published at most once")
		return
	}
	a.log.Warn("API call timed out", "method", r.Method, "path", r.URL.Path, "err", err)
	writeError(w, http.StatusGatewayTimeout, "timeout",
		"the event loops did not finish within "+APITimeout.String()+"; the call may have reached some connections")
}

// POST /v1/push {"users":[...],"data":ANY}
func (a *handler) push(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	var b body
	if !decode(w, r, &b) || !needUsers(w, &b) || !needData(w, &b) || !needID(w, &b) {
		return
	}
	if wantsReceipt(b.Receipt) {
		timeout, why := a.receiptTimeout(b.Receipt)
		if answer(w, why) {
			a.pushReceipt(w, r, &b, timeout, start)
		}
		return
	}
	ctx, cancel := loopsCtx(r)
	defer cancel()
	res, err := a.b.Push(ctx, b.ID, b.Users, b.Data)
	a.m.observe(kindPush, start, err)
	if err != nil {
		a.loopsFailed(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// delivered is the answer of broadcast and publish.
type delivered struct {
	Delivered int `json:"delivered"`
}

// POST /v1/broadcast {"data":ANY}
func (a *handler) broadcast(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	var b body
	if !decode(w, r, &b) || !needData(w, &b) || !needID(w, &b) || !noReceipt(w, &b) {
		return
	}
	ctx, cancel := loopsCtx(r)
	defer cancel()
	n, err := a.b.Broadcast(ctx, b.ID, b.Data)
	a.m.observe(kindBroadcast, start, err)
	if err != nil {
		a.loopsFailed(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, delivered{n})
}

// POST /v1/rooms/{room}/publish {"data":ANY}
func (a *handler) publish(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	room, ok := pathName(w, r, "room")
	var b body
	if !ok || !decode(w, r, &b) || !needData(w, &b) || !needID(w, &b) || !noReceipt(w, &b) {
		return
	}
	ctx, cancel := loopsCtx(r)
	defer cancel()
	n, err := a.b.Publish(ctx, b.ID, room, b.Data)
	a.m.observe(kindPublish, start, err)
	if err != nil {
		a.loopsFailed(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, delivered{n})
}

// POST /v1/rooms/{room}/members {"users":[...]}
func (a *handler) join(w http.ResponseWriter, r *http.Request) {
	a.members(w, r, a.b.AddToRoom, "joined")
}

// DELETE /v1/rooms/{room}/members {"users":[...]}
func (a *handler) leave(w http.ResponseWriter, r *http.Request) {
	a.members(w, r, a.b.RemoveFromRoom, "left")
}

// members runs a room membership change and answers {field: N}, N being
// the connections that changed.
func (a *handler) members(w http.ResponseWriter, r *http.Request,
	change func(context.Context, string, []string) (int, error), field string) {
	room, ok := pathName(w, r, "room")
	var b body
	if !ok || !decode(w, r, &b) || !needUsers(w, &b) {
		return
	}
	ctx, cancel := loopsCtx(r)
	defer cancel()
	n, err := change(ctx, room, b.Users)
	switch {
	case errors.Is(err, pool.ErrTooManyRooms):
		writeError(w, http.StatusConflict, "too_many_rooms", err.Error())
		return
	case err != nil:
		a.loopsFailed(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{field: n})
}

// GET /v1/users/{user}
func (a *handler) user(w http.ResponseWriter, r *http.Request) {
	user, ok := pathName(w, r, "user")
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, a.b.Presence(r.Context(), user))
}

// DELETE /v1/users/{user}/connections
func (a *handler) kick(w http.ResponseWriter, r *http.Request) {
	user, ok := pathName(w, r, "user")
	if !ok {
		return
	}
	ctx, cancel := loopsCtx(r)
	defer cancel()
	n, err := a.b.Kick(ctx, user)
	if err != nil {
		a.loopsFailed(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"closed": n})
}

// GET /v1/stats
func (a *handler) stats(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, a.b.Stats())
}

// GET /healthz: 200 while serving, 503 once shutting down, so that a load
// balancer stops sending new clients before the connections are closed; a
// node whose Redis is down still answers 200, "degraded".
func (a *handler) health(w http.ResponseWriter, _ *http.Request) {
	status, body := a.b.Health()
	writeJSON(w, status, body)
}

// writeJSON answers with status and v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(wire.Error{Error: "internal", Message: err.Error()})
	}
	h := w.Header()
	h["Content-Type"] = jsonType
	h["Content-Length"] = []string{strconv.Itoa(len(b) + 1)}
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// jsonType is the Content-Type of every answer, shared: net/http only
// reads header values.
var jsonType = []string{"application/json"}

// writeError answers with status and {"error":code,"message":msg}.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, wire.Error{Error: code, Message: msg})
}
