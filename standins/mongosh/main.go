// Command mongosh is the part of the MongoDB shell that the mongo:7 stand-in
// image needs: docker-compose.yml's health check runs
//
//	mongosh --quiet --eval "db.adminCommand('ping').ok"
//
// and this answers exactly that (prints 1, exit status 0) against the local
// server. Any other expression is refused, so nothing can mistake it for a shell.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

const pingExpr = "db.adminCommand('ping').ok"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mongosh", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Bool("quiet", false, "accepted for compatibility; output is always quiet")
	eval := fs.String("eval", "", "expression: only "+pingExpr)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	uri := "mongodb://127.0.0.1:27017/?directConnection=true"
	if fs.NArg() > 0 {
		uri = fs.Arg(0)
	}
	if normalized := strings.ReplaceAll(strings.TrimSpace(*eval), `"`, "'"); normalized != pingExpr {
		fmt.Fprintf(stderr, "mongosh stand-in: only --eval %q is supported\n", pingExpr)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	client, err := mongo.Connect(options.Client().ApplyURI(uri).SetServerSelectionTimeout(2 * time.Second))
	if err != nil {
		fmt.Fprintln(stderr, "mongosh stand-in:", err)
		return 1
	}
	// No Disconnect: it would send endSessions, which FerretDB answers with an
	// error it logs as a warning on every health check. Exiting closes the socket.
	var reply struct {
		OK float64 `bson:"ok"`
	}
	if err := client.Database("admin").RunCommand(ctx, bson.D{{Key: "ping", Value: 1}}).Decode(&reply); err != nil {
		fmt.Fprintln(stderr, "mongosh stand-in:", err)
		return 1
	}
	fmt.Fprintln(stdout, reply.OK)
	if reply.OK != 1 {
		return 1
	}
	return 0
}
