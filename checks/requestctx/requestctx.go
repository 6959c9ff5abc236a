// Package requestctx is a vet-style check of one rule of this project:
// datastore and outbound calls take the request's context
// (c.Request.Context()), never gin's *Context. Gin's Context satisfies
// context.Context, so the compiler accepts it, but gin hands the same Context
// to another request once the handler returns: whatever keeps it past that
// (a goroutine, a context.WithoutCancel, a span) reads the other request's
// values; and its Done and Err follow the request only while the engine's
// ContextWithFallback is set.
package requestctx

import (
	"go/ast"
	"go/types"

	"golang.org/x/tools/go/analysis"
)

// Analyzer reports every call that passes a *gin.Context where the callee
// takes a context.Context.
var Analyzer = &analysis.Analyzer{
	Name: "requestctx",
	Doc:  "reports a *gin.Context passed as a context.Context: pass c.Request.Context()",
	Run:  run,
}

func run(pass *analysis.Pass) (any, error) {
	for _, file := range pass.Files {
		ast.Inspect(file, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sig, ok := pass.TypesInfo.TypeOf(call.Fun).Underlying().(*types.Signature)
			if !ok {
				return true // a conversion
			}
			for i, arg := range call.Args {
				if isGinContext(pass.TypesInfo.TypeOf(arg)) && isContext(paramType(sig, i)) {
					pass.Reportf(arg.Pos(), "a *gin.Context passed as a context.Context: pass c.Request.Context()")
				}
			}
			return true
		})
	}
	return nil, nil
}

// paramType is the type of the parameter that argument i binds to, the
// element type of a variadic tail included.
func paramType(sig *types.Signature, i int) types.Type {
	params := sig.Params()
	if params.Len() == 0 {
		return nil
	}
	if sig.Variadic() && i >= params.Len()-1 {
		if s, ok := params.At(params.Len() - 1).Type().(*types.Slice); ok {
			return s.Elem()
		}
		return nil
	}
	if i >= params.Len() {
		return nil
	}
	return params.At(i).Type()
}

func isGinContext(t types.Type) bool {
	p, ok := t.(*types.Pointer)
	if !ok {
		return false
	}
	return isNamed(p.Elem(), "github.com/gin-gonic/gin", "Context")
}

func isContext(t types.Type) bool { return t != nil && isNamed(t, "context", "Context") }

func isNamed(t types.Type, pkg, name string) bool {
	n, ok := types.Unalias(t).(*types.Named)
	if !ok {
		return false
	}
	obj := n.Obj()
	return obj.Pkg() != nil && obj.Pkg().Path() == pkg && obj.Name() == name
}
