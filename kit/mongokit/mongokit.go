// Package mongokit is what the MongoDB-backed services (user, catalogue) share:
// one way to configure the client and one mapping of driver failures to 503.
package mongokit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/roboshop-go/roboshop/kit"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Connect configures a client with bounded waits. The driver connects lazily and
// reconnects by itself, so a datastore that is down at start or later never
// stops the process: requests fail fast with 503 instead. Each command is a
// client span of tp's (nil: none); the connection pool is measured in reg
// (nil: not).
func Connect(uri, appName string, tp trace.TracerProvider, reg prometheus.Registerer) (*mongo.Client, error) {
	opts := options.Client().ApplyURI(uri).
		SetAppName(appName).
		SetServerSelectionTimeout(2 * time.Second).
		SetConnectTimeout(2 * time.Second).
		SetTimeout(5 * time.Second).
		SetMaxPoolSize(64)
	if tp != nil {
		opts.SetMonitor(commandSpans(tp.Tracer("github.com/roboshop-go/roboshop/kit/mongokit")))
	}
	if reg != nil {
		opts.SetPoolMonitor(poolMetrics(reg))
	}
	client, err := mongo.Connect(opts)
	if err != nil {
		return nil, fmt.Errorf("mongodb client: %w", err)
	}
	return client, nil
}

// commandSpans makes each command a client span, as OpenTelemetry's otelmongo
// does for version 1 of the driver (the module proxy serves none for version 2):
// named "<command> <collection>", with the database semantic conventions,
// ended by the command's success or failure event. The command's text is not
// recorded: it holds the shop's data.
func commandSpans(tracer trace.Tracer) *event.CommandMonitor {
	var spans sync.Map // request id -> trace.Span
	end := func(id int64, err error) {
		if s, ok := spans.LoadAndDelete(id); ok {
			span := s.(trace.Span)
			if err != nil {
				span.RecordError(err)
				span.SetStatus(codes.Error, err.Error())
			}
			span.End()
		}
	}
	return &event.CommandMonitor{
		Started: func(ctx context.Context, e *event.CommandStartedEvent) {
			collection := ""
			if v, err := e.Command.LookupErr(e.CommandName); err == nil {
				collection, _ = v.StringValueOK()
			}
			name := e.CommandName
			if collection != "" {
				name += " " + collection
			}
			_, span := tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
				semconv.DBSystemNameMongoDB, semconv.DBOperationName(e.CommandName),
				semconv.DBNamespace(e.DatabaseName), semconv.DBCollectionName(collection)))
			spans.Store(e.RequestID, span)
		},
		Succeeded: func(_ context.Context, e *event.CommandSucceededEvent) { end(e.RequestID, nil) },
		Failed:    func(_ context.Context, e *event.CommandFailedEvent) { end(e.RequestID, e.Failure) },
	}
}

// poolMetrics measures the driver's connection pool from its events: the
// connections open and checked out now, and the checkouts that failed (the
// pool was exhausted or the server unreachable).
func poolMetrics(reg prometheus.Registerer) *event.PoolMonitor {
	open := prometheus.NewGauge(prometheus.GaugeOpts{Name: "mongodb_pool_connections_open", Help: "Connections to MongoDB open now."})
	inUse := prometheus.NewGauge(prometheus.GaugeOpts{Name: "mongodb_pool_connections_in_use", Help: "Connections to MongoDB checked out now."})
	failed := prometheus.NewCounter(prometheus.CounterOpts{Name: "mongodb_pool_checkout_failures_total", Help: "Connection checkouts that failed."})
	reg.MustRegister(open, inUse, failed)
	return &event.PoolMonitor{Event: func(e *event.PoolEvent) {
		switch e.Type {
		case event.ConnectionCreated:
			open.Inc()
		case event.ConnectionClosed:
			open.Dec()
		case event.ConnectionCheckedOut:
			inUse.Inc()
		case event.ConnectionCheckedIn:
			inUse.Dec()
		case event.ConnectionCheckOutFailed:
			failed.Inc()
		}
	}}
}

// Disconnect closes client's connections, waiting at most 5 s for operations
// in flight: a shutdown never hangs on a datastore that stopped answering.
func Disconnect(client *mongo.Client) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return client.Disconnect(ctx)
}

// Unavailable marks driver failures that mean "the datastore is not answering"
// as kit.ErrUnavailable (503); other errors stay as they are (500).
func Unavailable(err error) error {
	if err == nil {
		return nil
	}
	// Server selection failures wrap context.DeadlineExceeded, so IsTimeout covers them.
	if mongo.IsNetworkError(err) || mongo.IsTimeout(err) || errors.Is(err, mongo.ErrClientDisconnected) {
		return fmt.Errorf("mongodb: %w: %w", kit.ErrUnavailable, err)
	}
	return fmt.Errorf("mongodb: %w", err)
}
