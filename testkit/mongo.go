package testkit

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
)

// MongoURI returns a URI for a fresh database on the MongoDB-compatible server
// shared by this test binary, so tests can run in parallel without seeing each
// other's data.
func MongoURI(t testing.TB) string {
	t.Helper()
	p := sharedProcess(t, "mongo", mongoProcess)
	return "mongodb://" + p.Addr() + "/" + UniqueName("t")
}

// StartMongo starts a MongoDB-compatible server for this test alone, for tests
// that stop and restart their datastore. The URI names database db.
func StartMongo(t testing.TB, db string) (*Process, string) {
	t.Helper()
	p := ownProcess(t, mongoProcess)
	return p, "mongodb://" + p.Addr() + "/" + db
}

// mongoProcess prefers a real mongod on PATH and falls back to the embedded
// FerretDB stand-in (SQLite backend), built from this module on first use.
func mongoProcess(dir string, port int) (*Process, error) {
	addr := "127.0.0.1:" + strconv.Itoa(port)
	if mongod, err := exec.LookPath("mongod"); err == nil {
		return &Process{name: mongod, addr: addr, args: []string{
			"--bind_ip", "127.0.0.1", "--port", strconv.Itoa(port), "--dbpath", dir, "--quiet"}}, nil
	}
	bin, err := MongoStandIn()
	if err != nil {
		return nil, err
	}
	return &Process{name: bin, addr: addr, args: []string{"-listen", addr, "-dir", dir}}, nil
}

var standIn struct {
	once sync.Once
	path string
	err  error
}

// MongoStandIn returns the path of the mongostandin binary: $ROBOSHOP_MONGO_STANDIN
// when set (the test script builds it once for all packages), else built now.
func MongoStandIn() (string, error) {
	standIn.once.Do(func() {
		if p := os.Getenv("ROBOSHOP_MONGO_STANDIN"); p != "" {
			standIn.path = p
			return
		}
		_, file, _, ok := runtime.Caller(0)
		if !ok {
			standIn.err = fmt.Errorf("testkit: cannot locate its own source to build mongostandin")
			return
		}
		dir := filepath.Dir(file)
		out := filepath.Join(os.TempDir(), fmt.Sprintf("roboshop-mongostandin-%d", os.Getpid()))
		cmd := exec.Command("go", "build", "-o", out, "./cmd/mongostandin")
		cmd.Dir = dir
		if b, err := cmd.CombinedOutput(); err != nil {
			standIn.err = fmt.Errorf("testkit: build mongostandin: %v\n%s", err, b)
			return
		}
		standIn.path = out // Main removes it
	})
	return standIn.path, standIn.err
}
