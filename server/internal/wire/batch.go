package wire

import "encoding/json"

// Push is one message of a batch (POST /v1/push/batch): what one
// POST /v1/push carries.
type Push struct {
	ID    string
	Users []string
	Data  json.RawMessage
}

// Pushed is what a batch did with one of its messages: the answer /v1/push
// would have given, or why it was not sent (ErrUnavailable, ErrBusy, or
// the context's error). Each message of a batch succeeds or fails alone.
type Pushed struct {
	Result PushResult
	Err    error
}
