package kit

import (
	"strconv"

	"github.com/gin-gonic/gin"
)

// Query reads a request's query parameters and collects one message per bad
// parameter, so a request with several mistakes hears about all of them.
type Query struct {
	c      *gin.Context
	fields map[string]string
}

// NewQuery starts reading c's query string.
func NewQuery(c *gin.Context) *Query { return &Query{c: c, fields: map[string]string{}} }

// String returns the parameter and whether it was given; given twice is an error.
func (q *Query) String(name string) (string, bool) {
	vals := q.c.QueryArray(name)
	switch {
	case len(vals) > 1:
		q.fields[name] = "must be given at most once"
		return "", false
	case len(vals) == 0:
		return "", false
	}
	return vals[0], true
}

// Int returns the parameter as a whole number in [lo, hi], or def when absent.
func (q *Query) Int(name string, def, lo, hi int) int {
	raw, ok := q.String(name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < lo || n > hi {
		q.fields[name] = "must be a whole number from " + strconv.Itoa(lo) + " to " + strconv.Itoa(hi)
		return def
	}
	return n
}

// Fail records a problem found by the caller's own check of a parameter.
func (q *Query) Fail(name, problem string) { q.fields[name] = problem }

// Err is a 422 naming every bad parameter, or nil.
func (q *Query) Err() error {
	if len(q.fields) == 0 {
		return nil
	}
	return Invalid(q.fields)
}
