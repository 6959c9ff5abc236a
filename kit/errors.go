package kit

import (
	"context"
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"
)

// sentinel is an error value that is a constant, so no caller can reassign it.
type sentinel string

func (s sentinel) Error() string { return string(s) }

// ErrUnavailable marks a failure of a dependency (datastore, another service):
// the request may succeed later, so it maps to 503.
const ErrUnavailable = sentinel("dependency unavailable")

// Error is an error meant for the client: it carries the HTTP status, a stable
// snake_case code and a message for a person. Anything else is an internal error.
type Error struct {
	Status  int
	Code    string
	Message string
	Fields  map[string]string
	// Header is set on the response, e.g. Retry-After on 429.
	Header map[string]string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Is matches client errors by status and code, so errors.Is(err, Unauthorized())
// holds for every 401 the verifier makes.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Status == e.Status && t.Code == e.Code
}

// NewError returns a client error.
func NewError(status int, code, message string) *Error {
	return &Error{Status: status, Code: code, Message: message}
}

// Invalid returns a 422 naming the offending fields.
func Invalid(fields map[string]string) *Error {
	return &Error{Status: http.StatusUnprocessableEntity, Code: "validation_failed",
		Message: "some fields are invalid", Fields: fields}
}

// InvalidField is Invalid for a single field.
func InvalidField(field, problem string) *Error {
	return Invalid(map[string]string{field: problem})
}

// Unauthorized and Forbidden are the common client errors, made afresh for each
// use so that no caller can change what every service answers.
func Unauthorized() *Error {
	return NewError(http.StatusUnauthorized, "unauthorized", "a valid bearer token is required")
}

func Forbidden() *Error {
	return NewError(http.StatusForbidden, "forbidden", "this action is not allowed for this account")
}

// NotFound returns a 404 with a specific code, e.g. "product_not_found".
func NotFound(code, message string) *Error { return NewError(http.StatusNotFound, code, message) }

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string            `json:"code"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields,omitempty"`
}

// WriteError is the one place an error becomes an HTTP response. Client errors are
// written as they are; dependency failures become 503; anything else is a generic
// 500 whose detail goes to the request log (through c.Error), never to the client.
func WriteError(c *gin.Context, err error) {
	var e *Error
	switch {
	case errors.As(err, &e):
	case errors.Is(err, ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		_ = c.Error(err)
		e = NewError(http.StatusServiceUnavailable, "service_unavailable",
			"a service this request depends on is unavailable; try again shortly")
		c.Header("Retry-After", "5")
	default:
		_ = c.Error(err)
		e = NewError(http.StatusInternalServerError, "internal_error", "something went wrong on our side")
	}
	for k, v := range e.Header {
		c.Header(k, v)
	}
	c.AbortWithStatusJSON(e.Status, errorBody{Error: errorDetail{Code: e.Code, Message: e.Message, Fields: e.Fields}})
}

// Handle adapts a handler that returns an error, so every handler reports
// failures the same way and none can forget to write a response.
func Handle(h func(c *gin.Context) error) gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := h(c); err != nil {
			WriteError(c, err)
		}
	}
}
