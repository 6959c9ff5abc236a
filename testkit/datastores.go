package testkit

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"

	"github.com/roboshop-go/roboshop/topology"
)

// The datastores run as topology describes them (the lab, the bench and the
// local run start the same commands), with throwaway durability and no Redis
// password; the payment service reaches MariaDB as its own user, as in
// production, and root administers over the socket only.
var testSecrets = topology.Secrets{MySQLUser: "roboshop", MySQLPassword: "roboshop-test", SettleToken: SettleToken}

// SettleToken is the credential the tests' cart and payment share for the
// cart's settle (topology.SettleTokenVar).
const SettleToken = "roboshop-test-settle-token-0123456789"

// SigningKey is the user service's signing key in the tests' shared shop
// (SIGNING_KEY: an Ed25519 seed, base64), so a test's own user service, given
// it too, issues tokens the shared cart and payment accept.
const SigningKey = "cm9ib3Nob3AtdGVzdC1zaWduaW5nLWtleS1zZWVkISE="

// datastore returns how to start the shop's datastore name (any of that
// engine's) in dir on port.
func datastore(name string) func(dir string, port int) (*Process, error) {
	d := topology.Roboshop().Datastore(name)
	return func(dir string, port int) (*Process, error) {
		h := topology.Host{Dir: dir, Bind: "127.0.0.1", Port: port, Throwaway: true, Secrets: testSecrets}
		if d.Engine == topology.MongoDB {
			if _, err := exec.LookPath("mongod"); err != nil {
				bin, err := binary("mongostandin")
				if err != nil {
					return nil, err
				}
				h.MongoStandIn = bin
			}
		}
		srv, err := d.Server(h)
		if err != nil {
			return nil, err
		}
		for _, c := range srv.Prepare {
			if err := runCmd(context.Background(), c); err != nil {
				return nil, err
			}
		}
		return &Process{name: srv.Start.Path, args: srv.Start.Args, env: append(os.Environ(), srv.Start.Env...),
			addr: "127.0.0.1:" + strconv.Itoa(port), dir: dir, setup: srv.Setup}, nil
	}
}

// runCmd runs c to completion within a minute.
func runCmd(ctx context.Context, c topology.Cmd) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return c.Run(ctx)
}

// MongoURI returns a URI for a fresh database on the MongoDB-compatible server
// shared by this test binary, so tests can run in parallel without seeing each
// other's data.
func MongoURI(t testing.TB) string {
	t.Helper()
	p := sharedProcess(t, "mongo", datastore("user-mongodb"))
	return "mongodb://" + p.Addr() + "/" + UniqueName("t")
}

// StartMongo starts a MongoDB-compatible server for this test alone, for tests
// that stop and restart their datastore. The URI names database db.
func StartMongo(t testing.TB, db string) (*Process, string) {
	t.Helper()
	p := ownProcess(t, datastore("user-mongodb"))
	return p, "mongodb://" + p.Addr() + "/" + db
}

// Redis starts a redis-server for this test alone. Starting one takes
// milliseconds, so every test gets its own.
func Redis(t testing.TB) *Process {
	t.Helper()
	return ownProcess(t, datastore("cart-redis"))
}

// RedisWith is Redis with extra redis-server arguments (a later one wins: a
// smaller memory limit, say).
func RedisWith(t testing.TB, args ...string) *Process {
	t.Helper()
	return ownProcess(t, func(dir string, port int) (*Process, error) {
		p, err := datastore("cart-redis")(dir, port)
		if err == nil {
			p.args = append(p.args, args...)
		}
		return p, err
	})
}

// SharedRedisURL returns a redis:// URL of the server shared by this test binary.
func SharedRedisURL(t testing.TB) string {
	t.Helper()
	return "redis://" + sharedProcess(t, "redis", datastore("cart-redis")).Addr() + "/0"
}

// MariaDBDSN returns a DSN for a fresh database on the MariaDB server shared by
// this test binary.
func MariaDBDSN(t testing.TB) string {
	t.Helper()
	p := sharedProcess(t, "mariadb", datastore("payment-mysql"))
	db := UniqueName("t")
	createDatabase(t, p, db, testSecrets)
	return mysqlDSN(p, db)
}

// leastPrivilegeSecrets are the users of a database made as the renderings
// make payment's: an owner the migrations connect as, and an application
// user that may only read and write rows.
var leastPrivilegeSecrets = topology.Secrets{MySQLUser: "roboshop_app", MySQLPassword: "roboshop-app-test",
	MySQLMigrator: "roboshop_migrate", MySQLMigratorPassword: "roboshop-migrate-test"}

// MariaDBLeastPrivilegeDSNs returns, for a fresh database on the shared
// MariaDB server, the DSN of its application user (topology.MySQLAppPrivileges
// only) and of its owner, which the migrations connect as.
func MariaDBLeastPrivilegeDSNs(t testing.TB) (app, owner string) {
	t.Helper()
	p := sharedProcess(t, "mariadb", datastore("payment-mysql"))
	db := UniqueName("t")
	createDatabase(t, p, db, leastPrivilegeSecrets)
	d := paymentDatabase(db)
	return d.URL(p.Addr(), leastPrivilegeSecrets), d.MigrateURL(p.Addr(), leastPrivilegeSecrets)
}

// StartMariaDB starts a MariaDB server for this test alone (for tests that stop
// it) and returns it with a DSN for database db.
func StartMariaDB(t testing.TB, db string) (*Process, string) {
	t.Helper()
	p := ownProcess(t, datastore("payment-mysql"))
	createDatabase(t, p, db, testSecrets)
	return p, mysqlDSN(p, db)
}

func mysqlDSN(p *Process, db string) string {
	return paymentDatabase(db).URL(p.Addr(), testSecrets)
}

// paymentDatabase is payment's MySQL datastore with database db.
func paymentDatabase(db string) topology.Datastore {
	d := topology.Roboshop().Datastore("payment-mysql")
	d.Database = db
	return d
}

// createDatabase creates db and its users (secrets) on the MariaDB server p.
func createDatabase(t testing.TB, p *Process, db string, secrets topology.Secrets) {
	t.Helper()
	if err := runCmd(Context(t), topology.MariaDBAdmin(p.dir, topology.CreateMySQLDatabase(db, secrets))); err != nil {
		t.Fatalf("create database: %v", err)
	}
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
