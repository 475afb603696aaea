package webhook

import (
	"encoding/base64"
	"strconv"
	"time"

	"github.com/wspush/wspush/server/internal/wire"
)

// encode builds a request body: {"sent":MS,"events":[...]}, each event as
// docs/webhook.md spells it. The body is new; batch is left as it was.
func (w *Webhook) encode(batch []*event) []byte {
	b := make([]byte, 0, 256*len(batch))
	b = append(b, `{"sent":`...)
	b = strconv.AppendInt(b, time.Now().UnixMilli(), 10)
	b = append(b, `,"events":[`...)
	for i, e := range batch {
		if i > 0 {
			b = append(b, ',')
		}
		b = w.appendEvent(b, e)
	}
	return append(b, "]}"...)
}

// appendEvent appends one event's JSON (docs/webhook.md) to b, with the
// next event id.
func (w *Webhook) appendEvent(b []byte, e *event) []byte {
	b = append(b, `{"id":"`...)
	b = append(b, w.prefix...)
	b = append(b, '-')
	b = strconv.AppendUint(b, w.seq.Add(1), 10)
	b = append(b, `","type":"`...)
	b = append(b, kindName(e.kind)...)
	b = append(b, `","ts":`...)
	b = strconv.AppendInt(b, e.ts, 10)
	if e.kind&(evUndelivered|evReceived) != 0 {
		return appendReceipt(b, e)
	}
	if e.conn != 0 {
		b = append(b, `,"conn":"c`...)
		b = strconv.AppendUint(b, e.conn, 10)
		b = append(b, '"')
	}
	b = append(b, `,"user":`...)
	b = wire.AppendString(b, e.user)
	switch e.kind {
	case evConnect:
		if e.remote != nil {
			b = append(b, `,"remote":`...)
			b = wire.AppendString(b, e.remote.String())
		}
		if e.ip != "" {
			b = append(b, `,"ip":`...)
			b = wire.AppendString(b, e.ip)
		}
	case evDisconnect:
		b = append(b, `,"reason":`...)
		b = wire.AppendString(b, e.reason)
	case evPublish:
		b = append(b, `,"room":`...)
		b = wire.AppendString(b, e.target)
		b = append(b, `,"data":`...)
		b = append(b, e.data...)
	case evSend:
		b = append(b, `,"to":`...)
		b = wire.AppendString(b, e.target)
		b = append(b, `,"data":`...)
		b = append(b, e.data...)
	case evBinary:
		b = append(b, `,"data_base64":"`...)
		b = base64.StdEncoding.AppendEncode(b, e.data)
		b = append(b, '"')
	}
	return append(b, '}')
}
