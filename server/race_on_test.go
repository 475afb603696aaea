//go:build race

package server

// raceOn: the race detector's instrumentation allocates, so allocation
// counts are checked in the pass without it (Makefile, race).
const raceOn = true
