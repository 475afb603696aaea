package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wspush/wspush/pool"
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

// apiHandler serves the HTTP API. It only calls the Server's goroutine-safe
// methods, which hand the work to the event loops and wait for it.
type apiHandler struct {
	s   *Server
	m   *metrics
	key [sha256.Size]byte // SHA-256 of Config.APIKey, so the compare takes constant time whatever the lengths
	mux *http.ServeMux
}

// APIHandler returns the HTTP API that the backend calls (docs/api.md):
// pushes, rooms, presence, stats, /metrics and /healthz. When Config.APIKey
// is set, every path but /healthz requires "Authorization: Bearer KEY".
// Serve mounts it on Config.APIAddr; each handler has its own Prometheus
// registry, so the server's metrics count the API calls of the handler
// that serves /metrics.
func (s *Server) APIHandler() http.Handler {
	a := &apiHandler{s: s, m: newMetrics(s), mux: http.NewServeMux()}
	if s.cfg.APIKey != "" {
		a.key = sha256.Sum256([]byte(s.cfg.APIKey))
	}
	routes := []struct {
		method, path string
		h            http.HandlerFunc
	}{
		{"POST", "/v1/push", a.push},
		{"POST", "/v1/broadcast", a.broadcast},
		{"POST", "/v1/rooms/{room}/publish", a.publish},
		{"POST", "/v1/rooms/{room}/members", a.join},
		{"DELETE", "/v1/rooms/{room}/members", a.leave},
		{"GET", "/v1/users/{user}", a.user},
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
	s.mountDemo(a.mux)
	a.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no API call at "+r.URL.Path+" (docs/api.md)")
	})
	return a
}

// ServeHTTP checks the API key, then routes. /healthz stays open for load
// balancers.
func (a *apiHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !a.checkKeyless(w, r) {
		return
	}
	if a.s.cfg.APIKey != "" && r.URL.Path != "/healthz" {
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
func (a *apiHandler) checkKey(header string) string {
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
	Users []string        `json:"users"`
	Data  json.RawMessage `json:"data"`
}

// decode reads r's JSON body, at most MaxAPIBody bytes, into b. On failure
// it answers the request and returns false.
func decode(w http.ResponseWriter, r *http.Request, b *body) bool {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxAPIBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, "too_large",
			"the body is over "+strconv.Itoa(MaxAPIBody)+" bytes")
		return false
	case err != nil:
		writeError(w, http.StatusBadRequest, "bad_request", "reading the body: "+err.Error())
		return false
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

// typeMismatch explains a body whose JSON has the wrong shape at field.
func typeMismatch(field string) string {
	if strings.HasPrefix(field, "users") {
		return "users: want an array of user id strings"
	}
	return "the body must be a JSON object"
}

// needData answers 400 and returns false if b has no data. JSON null
// counts as none: a push of null tells the client nothing.
func needData(w http.ResponseWriter, b *body) bool {
	if len(b.Data) == 0 || string(b.Data) == "null" {
		writeError(w, http.StatusBadRequest, "bad_request", "data is required: any JSON value but null")
		return false
	}
	return true
}

// needUsers checks b.Users, drops repeated ids (so that nobody gets a push
// twice) and answers 400 if they are not 1 to MaxPushUsers valid ids.
func needUsers(w http.ResponseWriter, b *body) bool {
	n := len(b.Users)
	if n == 0 || n > MaxPushUsers {
		writeError(w, http.StatusBadRequest, "bad_request",
			"users: 1 to "+strconv.Itoa(MaxPushUsers)+" user ids required, got "+strconv.Itoa(n))
		return false
	}
	for i, u := range b.Users {
		if !validName(u) {
			writeError(w, http.StatusBadRequest, "bad_request",
				"users["+strconv.Itoa(i)+"]: user ids are 1 to 128 bytes of printable UTF-8")
			return false
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
	return true
}

// pathName reads the path value key (a room or a user) and answers 400
// if it is not a valid name.
func pathName(w http.ResponseWriter, r *http.Request, key string) (string, bool) {
	v := r.PathValue(key)
	if !validName(v) {
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
func (a *apiHandler) loopsFailed(w http.ResponseWriter, r *http.Request, err error) {
	a.s.log.Warn("API call timed out", "method", r.Method, "path", r.URL.Path, "err", err)
	writeError(w, http.StatusGatewayTimeout, "timeout",
		"the event loops did not finish within "+APITimeout.String()+"; the call may have reached some connections")
}

// POST /v1/push {"users":[...],"data":ANY}
func (a *apiHandler) push(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	var b body
	if !decode(w, r, &b) || !needUsers(w, &b) || !needData(w, &b) {
		return
	}
	ctx, cancel := loopsCtx(r)
	defer cancel()
	res, err := a.s.Push(ctx, b.Users, b.Data)
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
func (a *apiHandler) broadcast(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	var b body
	if !decode(w, r, &b) || !needData(w, &b) {
		return
	}
	ctx, cancel := loopsCtx(r)
	defer cancel()
	n, err := a.s.Broadcast(ctx, b.Data)
	a.m.observe(kindBroadcast, start, err)
	if err != nil {
		a.loopsFailed(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, delivered{n})
}

// POST /v1/rooms/{room}/publish {"data":ANY}
func (a *apiHandler) publish(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	room, ok := pathName(w, r, "room")
	var b body
	if !ok || !decode(w, r, &b) || !needData(w, &b) {
		return
	}
	ctx, cancel := loopsCtx(r)
	defer cancel()
	n, err := a.s.Publish(ctx, room, b.Data)
	a.m.observe(kindPublish, start, err)
	if err != nil {
		a.loopsFailed(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, delivered{n})
}

// POST /v1/rooms/{room}/members {"users":[...]}
func (a *apiHandler) join(w http.ResponseWriter, r *http.Request) {
	a.members(w, r, a.s.AddToRoom, "joined")
}

// DELETE /v1/rooms/{room}/members {"users":[...]}
func (a *apiHandler) leave(w http.ResponseWriter, r *http.Request) {
	a.members(w, r, a.s.RemoveFromRoom, "left")
}

// members runs a room membership change and answers {field: N}, N being
// the connections that changed.
func (a *apiHandler) members(w http.ResponseWriter, r *http.Request,
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
func (a *apiHandler) user(w http.ResponseWriter, r *http.Request) {
	user, ok := pathName(w, r, "user")
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, a.s.Presence(user))
}

// DELETE /v1/users/{user}/connections
func (a *apiHandler) kick(w http.ResponseWriter, r *http.Request) {
	user, ok := pathName(w, r, "user")
	if !ok {
		return
	}
	ctx, cancel := loopsCtx(r)
	defer cancel()
	n, err := a.s.Kick(ctx, user)
	if err != nil {
		a.loopsFailed(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"closed": n})
}

// GET /v1/stats
func (a *apiHandler) stats(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, a.s.Stats())
}

// GET /healthz: 200 while serving, 503 once shutting down, so that a load
// balancer stops sending new clients before the connections are closed.
func (a *apiHandler) health(w http.ResponseWriter, _ *http.Request) {
	if a.s.draining.Load() {
		writeError(w, http.StatusServiceUnavailable, "draining", "the server is shutting down")
		return
	}
	if a.s.cl != nil && !a.s.cl.up.Load() {
		// Still serving this node's clients: the balancer keeps it.
		writeJSON(w, http.StatusOK, a.s.healthAuth(map[string]string{"status": "degraded", "redis": "down",
			"message": "redis does not answer: pushes reach this node's clients only"}))
		return
	}
	writeJSON(w, http.StatusOK, a.s.healthAuth(map[string]string{"status": "ok"}))
}

// writeJSON answers with status and v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(apiError{Error: "internal", Message: err.Error()})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// writeError answers with status and {"error":code,"message":msg}.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, apiError{Error: code, Message: msg})
}
