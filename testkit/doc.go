// Package testkit is the test harness, and only that: it starts the real parts
// of the shop that tests talk to, as child processes on free loopback ports
// with throwaway data, from the one description in the topology module.
//
//   - process.go, ports.go: a supervised child process (start on a port it
//     provably owns, stop, pause, kill, restart on the same port).
//   - registry.go: servers shared by a test binary (stopped by Main) or owned
//     by one test (stopped at its end), and small helpers for tests.
//   - datastores.go: MongoDB (or the FerretDB stand-in), Redis and MariaDB,
//     with a fresh database per test on the shared servers.
//   - services.go: the real service binaries, wired as topology says.
//   - run.go: a service's run function in-process, for start-up and shutdown tests.
//   - http.go, tokens.go: requests through a router, JSON, tokens and users.
package testkit
