// Package bench is the load-test tool behind `wspush bench`.
//
// It holds WebSocket connections the way the server does: on gnet event
// loops, with no goroutine per connection, so one process holds as many
// connections as its open-files limit allows. Only the dial and the HTTP
// upgrade run on a bounded pool of goroutines; an upgraded connection is
// handed to an event loop and costs a few hundred bytes from then on.
//
// A run has three phases: open (dial Config.Conns at Config.Ramp per second),
// load (hold, echo, or receive pushes and broadcasts sent through the HTTP
// API), and close (a close frame on every connection, never a reconnect).
// With Config.Workers > 1 the open, load and close phases run in child
// processes, each with its share of the connections; the parent paces the
// phases, calls the API and merges the children's results.
//
//	cfg := bench.Config{Mode: bench.ModeEcho, URL: "ws://127.0.0.1:8080/ws", Conns: 1000}
//	res, err := bench.Run(ctx, cfg)
//	if err != nil { ... }
//	res.WriteTable(os.Stdout)
//
// The command line is parsed by Main, which `wspush bench` calls.
package bench
