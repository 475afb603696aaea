package bench

import "errors"

// Errors a run returns.
var (
	ErrMode       = errors.New("bench: unknown mode")
	ErrSourceIPs  = errors.New("bench: bad --source-ips")
	ErrTooManyErr = errors.New("bench: errors over --max-errors")
	ErrWorker     = errors.New("bench: worker failed")
)
