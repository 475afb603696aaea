// Package client holds the JavaScript SDK (wspush.js) and its examples,
// and gives Go the browser demo to serve:
//
//	srv := server.New(server.Config{Demo: client.Demo})
//
// serves examples/browser at /demo/ on the API listener, with the SDK
// beside it as /demo/wspush.js.
package client

import (
	"embed"
	"io/fs"
	"path"
)

//go:embed wspush.js wspush.mjs examples/browser
var files embed.FS

// Demo is the browser chat page (examples/browser: index.html, chat.js)
// with wspush.js (which index.html loads) and wspush.mjs at its root. It is read-only and
// safe for concurrent use.
var Demo fs.FS = demoFS{}

// demoFS lays the SDK over examples/browser, so that the page and the
// SDK it loads come from one directory.
type demoFS struct{}

func (demoFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	if name == "wspush.js" || name == "wspush.mjs" {
		return files.Open(name)
	}
	return files.Open(path.Join("examples/browser", name))
}
