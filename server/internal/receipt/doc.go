// Package receipt keeps the delivery receipts of one node (docs/api.md,
// "Receipts"): for each push that asked for one, per user, whether a
// connection of the user acknowledged it (received), not yet (pending),
// or not before the push's timeout (undelivered), and tells the webhook
// of the users who did not, with the message's data. A cluster keeps them
// in Redis instead (package cluster, receipts.go), with the same Counters
// and metrics.
//
//	m := receipt.NewMemory(receipt.Config{Max: 1_000_000, Undelivered: hook.Undelivered})
//	m.Start()
//	defer m.Close()
//	created, err := m.Begin("m7", []string{"alice", "bob"}, data, 30*time.Second)
//	... push the message ...
//	m.Ack("alice", []string{"m7"}) // from alice's connection, on an event loop
//	r, err := m.Status("m7")        // alice received, bob pending
//
// Everything it holds is bounded: Config.Max pending receipts (one per
// user of a message), refused beyond with wire.ErrReceiptsFull; a message
// whose timeout passed is kept Config.Keep more for Status, then dropped.
package receipt
