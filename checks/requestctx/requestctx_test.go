package requestctx_test

import (
	"testing"

	"golang.org/x/tools/go/analysis/analysistest"

	"github.com/roboshop-go/roboshop/checks/requestctx"
)

// The testdata package marks each call that must be reported with a want
// comment; every other call in it must not be.
func TestReportsGinContextPassedAsContext(t *testing.T) {
	analysistest.Run(t, analysistest.TestData(), requestctx.Analyzer, "svc")
}
