// Package gin is the part of gin's API the check's test needs.
package gin

import (
	"context"
	"net/http"
	"time"
)

type Context struct{ Request *http.Request }

func (c *Context) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c *Context) Done() <-chan struct{}       { return nil }
func (c *Context) Err() error                  { return nil }
func (c *Context) Value(any) any               { return nil }

var _ context.Context = (*Context)(nil)
