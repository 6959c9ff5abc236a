package testkit

import (
	"os"
	"os/exec"
	"strconv"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"
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

// MongoStandIn returns the path of the mongostandin binary: $ROBOSHOP_MONGO_STANDIN
// when set (the test script builds it once for all packages), else built now.
func MongoStandIn() (string, error) {
	return repoBinary("mongostandin", os.Getenv("ROBOSHOP_MONGO_STANDIN"), "testkit", "./cmd/mongostandin")
}

// SetPrice changes a product's price in the catalogue database at mongoURI
// behind the catalogue service's back, as a price change by the shop would.
func SetPrice(t testing.TB, mongoURI, sku string, cents int64) {
	t.Helper()
	ctx := Context(t)
	client, err := mongo.Connect(options.Client().ApplyURI(mongoURI))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = client.Disconnect(ctx) }()
	cs, err := connstring.Parse(mongoURI)
	if err != nil {
		t.Fatal(err)
	}
	res, err := client.Database(cs.Database).Collection("products").UpdateOne(ctx,
		bson.D{{Key: "_id", Value: sku}}, bson.D{{Key: "$set", Value: bson.D{{Key: "price_cents", Value: cents}}}})
	if err != nil {
		t.Fatalf("set price of %s: %v", sku, err)
	}
	if res.MatchedCount != 1 {
		t.Fatalf("set price: no product %s", sku)
	}
}
