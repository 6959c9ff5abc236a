// Command loadgen drives realistic shopper journeys through the Roboshop
// frontend and reports throughput and latency per endpoint and journey step.
// It is bounded (a duration or an iteration count) and, unless told otherwise,
// refuses any target but loopback.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}
