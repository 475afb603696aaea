package webui

import (
	"bytes"
	"testing"
)

func TestTheChartLibraryIsEmbeddedWithItsLicence(t *testing.T) {
	if js := UPlotJS(); len(js) < 10000 || !bytes.Contains(js, []byte("uPlot")) {
		t.Fatalf("uPlot.iife.min.js: %d bytes, not the library", len(js))
	}
	if css := UPlotCSS(); !bytes.Contains(css, []byte(".uplot")) {
		t.Fatalf("uPlot.min.css does not style .uplot")
	}
	lic, err := FS.ReadFile("uplot/LICENSE")
	if err != nil || !bytes.Contains(lic, []byte("MIT License")) || !bytes.Contains(lic, []byte("Leon Sorokin")) {
		t.Fatalf("uplot/LICENSE: %v, %q", err, lic)
	}
}
