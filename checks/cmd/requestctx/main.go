// Command requestctx runs the requestctx check as go vet's tool:
//
//	go vet -vettool=$(command -v requestctx) ./...
package main

import (
	"golang.org/x/tools/go/analysis/singlechecker"

	"github.com/roboshop-go/roboshop/checks/requestctx"
)

func main() { singlechecker.Main(requestctx.Analyzer) }
