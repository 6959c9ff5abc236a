// Package mongokit is what the MongoDB-backed services (user, catalogue) share:
// one way to configure the client and one mapping of driver failures to 503.
package mongokit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/roboshop-go/roboshop/kit"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Connect configures a client with bounded waits. The driver connects lazily and
// reconnects by itself, so a datastore that is down at start or later never
// stops the process: requests fail fast with 503 instead.
func Connect(uri, appName string) (*mongo.Client, error) {
	client, err := mongo.Connect(options.Client().ApplyURI(uri).
		SetAppName(appName).
		SetServerSelectionTimeout(2 * time.Second).
		SetConnectTimeout(2 * time.Second).
		SetTimeout(5 * time.Second).
		SetMaxPoolSize(64))
	if err != nil {
		return nil, fmt.Errorf("mongodb client: %w", err)
	}
	return client, nil
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
