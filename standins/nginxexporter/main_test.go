package main

import "testing"

func TestParseStatus(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       status
		wantErr    bool
	}{
		{"nginx 1.22", "Active connections: 291 \nserver accepts handled requests\n 16630948 16630948 31070465 \nReading: 6 Writing: 179 Waiting: 106 \n",
			status{active: 291, accepts: 16630948, handled: 16630948, requests: 31070465, reading: 6, writing: 179, waiting: 106}, false},
		{"an error page", "<html>404 Not Found</html>", status{}, true},
		{"cut short", "Active connections: 1 \nserver accepts handled requests\n 1 1", status{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStatus(tc.body)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("parseStatus = %+v, %v; want %+v, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}
