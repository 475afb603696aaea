package engine

import "strconv"

// MaxReceivedIDs caps the ids of one {"type":"received"} message
// (docs/protocol.md): a client with more sends more messages.
const MaxReceivedIDs = 256

// received handles {"type":"received","ids":[...]}: the client says it
// handled the pushes whose receipt keys (their envelope's "receipt") are
// ids. The hooks apply it to the receipts of this connection's user, and
// of no one else's: a key of a push to other users, one that is no
// receipt's (a guessed message id), or whose receipt is no longer
// pending, changes nothing, so a client cannot acknowledge for another
// user, nor what it was never sent. The reply is
// an ack when the request has a ref, as for every request.
func (c *conn) received(req request) {
	switch n := len(req.IDs); {
	case n == 0:
		c.reply(req.Ref, codeBadRequest, "ids: 1 to "+strconv.Itoa(MaxReceivedIDs)+" receipt keys (a push's \"receipt\") required")
		return
	case n > MaxReceivedIDs:
		c.reply(req.Ref, codeBadRequest, "ids: at most "+strconv.Itoa(MaxReceivedIDs)+" in one message, got "+strconv.Itoa(n))
		return
	}
	c.l.s.hooks.Received(c.id(), req.IDs)
	c.reply(req.Ref, "", "")
}
