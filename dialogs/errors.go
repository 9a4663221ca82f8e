package dialogs

import "fmt"

// InvalidError is an event that cannot be applied; Field names the part of
// the request that is wrong. Nothing was changed.
type InvalidError struct {
	Field   string
	Message string
}

func (e *InvalidError) Error() string { return e.Message }

func invalid(field, format string, args ...any) error {
	return &InvalidError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// UnavailableError is a store failure. Message says what could not be done
// and that a retry may work, for whoever sent the event; the cause (a file
// path, a database host) is for the log only (Error).
type UnavailableError struct {
	Message string
	Cause   error
}

func (e *UnavailableError) Error() string { return e.Message + ": " + e.Cause.Error() }
func (e *UnavailableError) Unwrap() error { return e.Cause }

// Unavailable is the error of a store failure while doing what format
// (with key) describes.
func Unavailable(format, key string, err error) error {
	return &UnavailableError{Message: fmt.Sprintf(format+": the store is unavailable, try again", key), Cause: err}
}
