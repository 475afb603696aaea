// Package webui holds the static files that wspush's pages share: the
// vendored chart library (uPlot 1.6.32, MIT, by Leon Sorokin; its licence is
// beside it in uplot/LICENSE) that the console and `wspush bench --report`
// draw with. Everything is embedded with go:embed, so no page needs a CDN or
// the network at runtime, and no build step stands between the files and
// `go build`.
package webui

import "embed"

// FS holds uplot/uPlot.iife.min.js, uplot/uPlot.min.css and uplot/LICENSE.
//
//go:embed uplot
var FS embed.FS

// UPlotVersion is the vendored uPlot's version, from its package.json.
const UPlotVersion = "1.6.32"

// UPlotJS and UPlotCSS return the chart library's script and style sheet,
// for a page that inlines them into one self-contained file.
func UPlotJS() []byte  { return must("uplot/uPlot.iife.min.js") }
func UPlotCSS() []byte { return must("uplot/uPlot.min.css") }

func must(name string) []byte {
	b, err := FS.ReadFile(name)
	if err != nil {
		panic("webui: " + name + " is not embedded: " + err.Error())
	}
	return b
}
