package api

import (
	"io/fs"
	"net/http"
)

// mountDemo serves demo at /demo/ on the API mux: in development
// mode, the browser chat page of client/examples/browser (client.Demo),
// which connects to the WebSocket listener. Nothing is mounted when Demo
// is nil, as in production. The page sits behind the API key like every
// other path but /healthz.
func mountDemo(mux *http.ServeMux, demo fs.FS) {
	if demo == nil {
		return
	}
	files := http.StripPrefix("/demo/", http.FileServerFS(demo))
	mux.Handle("GET /demo/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The page is a development tool that changes with the binary.
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, r)
	}))
	mux.Handle("GET /demo", http.RedirectHandler("/demo/", http.StatusMovedPermanently))
}
