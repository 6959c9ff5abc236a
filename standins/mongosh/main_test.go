package main

import (
	"bytes"
	"net"
	"strings"
	"testing"

	"github.com/roboshop-go/roboshop/testkit"
)

func TestMongoshAnswersOnlyThePing(t *testing.T) {
	live := testkit.MongoURI(t)
	// A port that was free a moment ago: nothing answers there.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "mongodb://" + l.Addr().String() + "/?directConnection=true"
	l.Close()

	for _, tc := range []struct {
		name       string
		args       []string
		wantStatus int
		wantOut    string
		wantErr    string
	}{
		{"the compose health check", []string{"--quiet", "--eval", "db.adminCommand('ping').ok", live}, 0, "1\n", ""},
		{"double quotes", []string{"--eval", `db.adminCommand("ping").ok`, live}, 0, "1\n", ""},
		{"any other expression", []string{"--eval", "db.dropDatabase()", live}, 2, "", "only --eval"},
		{"no expression", []string{live}, 2, "", "only --eval"},
		{"no server", []string{"--eval", "db.adminCommand('ping').ok", dead}, 1, "", "mongosh stand-in:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if got := run(tc.args, &stdout, &stderr); got != tc.wantStatus {
				t.Fatalf("status %d, want %d (stderr %q)", got, tc.wantStatus, stderr.String())
			}
			if stdout.String() != tc.wantOut {
				t.Errorf("stdout %q, want %q", stdout.String(), tc.wantOut)
			}
			if !strings.Contains(stderr.String(), tc.wantErr) {
				t.Errorf("stderr %q, want it to contain %q", stderr.String(), tc.wantErr)
			}
		})
	}
}
