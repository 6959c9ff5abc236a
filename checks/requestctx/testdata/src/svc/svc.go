package svc

import (
	"context"

	"github.com/gin-gonic/gin"
)

type store struct{}

func (store) Get(ctx context.Context, id string) error       { return nil }
func (store) Many(ctx context.Context, ids ...string) error  { return nil }
func log(parts ...any)                                       {}
func bind(c *gin.Context, v any) error                       { return nil }
func each(ctx context.Context, fns ...context.Context) error { return nil }

func handler(c *gin.Context, st store) {
	_ = st.Get(c, "1")                   // want `a \*gin.Context passed as a context.Context`
	_ = st.Many(c, "1", "2")             // want `a \*gin.Context passed as a context.Context`
	_ = each(c.Request.Context(), c)     // want `a \*gin.Context passed as a context.Context`
	_ = st.Get(c.Request.Context(), "1") // the request's context: fine
	_ = bind(c, nil)                     // takes gin's Context itself: fine
	log(c)                               // an any, not a context.Context: fine
	func(ctx context.Context) {}(c)      // want `a \*gin.Context passed as a context.Context`
}
