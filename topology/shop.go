// Package topology is the one description of the shop's parts, written once
// for every place that starts the shop from source: the tests (testkit), the
// lab, the bench and the local run (cmd/dev). It says which datastores and
// services exist, where each listens, the environment that wires a service to
// its datastore and to the services it calls, and the commands that start each
// datastore; Start brings a whole shop up from it. compose and Terraform are
// renderings checked against the same names (deploy/composecheck, deploy/sg).
//
// A new environment variable that wires one part to another is added here,
// in Service.Env, and nowhere else.
package topology

import (
	"fmt"
	"sort"
	"strings"
)

// Engine is the kind of a datastore.
type Engine string

// The engines the shop uses; the MongoDB and MySQL stand-ins (FerretDB,
// MariaDB) speak the same protocols.
const (
	MongoDB Engine = "mongodb"
	Redis   Engine = "redis"
	MySQL   Engine = "mysql"
)

// EnvVar is the variable a service reads its datastore's address from.
func (e Engine) EnvVar() string {
	switch e {
	case MongoDB:
		return "MONGO_URI"
	case Redis:
		return "REDIS_URL"
	case MySQL:
		return "MYSQL_DSN"
	}
	panic("unknown engine " + string(e))
}

// Datastore is one service's private datastore. Its Name is also its security
// group, its host name in compose and on EC2, and its lab namespace.
type Datastore struct {
	Name     string
	Engine   Engine
	Port     int    // where it listens on its own host
	Database string // what its service uses on it
}

// Service is one Go service. Its Name is also its security group, host name,
// module directory and binary.
type Service struct {
	Name  string
	Store string   // its datastore's Name
	Calls []string // the services it calls, in the order it needs them
	// Secrets are the shop-wide secrets it is given, by variable (their
	// values are Secrets.Value's): SETTLE_TOKEN for the cart and payment.
	Secrets []string
	// TrustsProxy: it takes its client's address from the proxy in front of
	// it (the user service's login throttle), believing only the address in
	// TrustedProxiesVar (Plan.ProxyOf).
	TrustsProxy bool
}

// TrustedProxiesVar names who may tell a TrustsProxy service its client's
// address: the frontend's nginx, or the balancer between them.
const TrustedProxiesVar = "TRUSTED_PROXIES"

// SettleTokenVar holds the credential payment proves itself with on the
// cart's settle, which the cart accepts from nobody else.
const SettleTokenVar = "SETTLE_TOKEN"

// ServicePort is where every service listens on its own host.
const ServicePort = 8080

// Shop is the whole shop behind the frontend.
type Shop struct {
	Datastores []Datastore
	Services   []Service // in start order: a service comes after those it calls
}

// Roboshop is the shop.
func Roboshop() Shop {
	return Shop{
		Datastores: []Datastore{
			{Name: "user-mongodb", Engine: MongoDB, Port: 27017, Database: "users"},
			{Name: "catalogue-mongodb", Engine: MongoDB, Port: 27017, Database: "catalogue"},
			{Name: "cart-redis", Engine: Redis, Port: 6379, Database: "0"},
			{Name: "payment-mysql", Engine: MySQL, Port: 3306, Database: "payment"},
		},
		Services: []Service{
			{Name: "user", Store: "user-mongodb", TrustsProxy: true},
			{Name: "catalogue", Store: "catalogue-mongodb"},
			{Name: "cart", Store: "cart-redis", Calls: []string{"user", "catalogue"}, Secrets: []string{SettleTokenVar}},
			{Name: "payment", Store: "payment-mysql", Calls: []string{"user", "catalogue", "cart"}, Secrets: []string{SettleTokenVar}},
		},
	}
}

// Service returns the service called name.
func (s Shop) Service(name string) Service {
	for _, svc := range s.Services {
		if svc.Name == name {
			return svc
		}
	}
	panic("topology: no service " + name)
}

// Datastore returns the datastore called name.
func (s Shop) Datastore(name string) Datastore {
	for _, d := range s.Datastores {
		if d.Name == name {
			return d
		}
	}
	panic("topology: no datastore " + name)
}

// Secrets are the datastores' credentials; empty fields mean none (MongoDB
// and Redis without a password; MySQL's application user is then MySQLUser
// alone).
type Secrets struct {
	MongoPassword string // of each MongoDB's one user (MongoUser), made at its first start
	RedisPassword string
	MySQLUser     string // the application's user; root administers over the socket only
	MySQLPassword string
	// MySQLMigrator owns the schema: payment's migrations connect as it
	// (MigrateURL, MigrateDSNVar), and MySQLUser may then only read and
	// write rows. Empty: MySQLUser owns the schema (the unit tests' servers).
	MySQLMigrator         string
	MySQLMigratorPassword string
	SettleToken           string // SettleTokenVar's value
}

// Value is the value of the shop-wide secret variable name.
func (s Secrets) Value(name string) string {
	if name == SettleTokenVar {
		return s.SettleToken
	}
	panic("topology: no secret " + name)
}

// MigrateDSNVar is where payment finds the schema owner's DSN.
const MigrateDSNVar = "MYSQL_MIGRATE_DSN"

// MigrateURL is how the migrations reach MySQL d at addr as the schema's
// owner; "" where there is none (Secrets.MySQLMigrator).
func (d Datastore) MigrateURL(addr string, s Secrets) string {
	if d.Engine != MySQL || s.MySQLMigrator == "" {
		return ""
	}
	return d.URL(addr, Secrets{MySQLUser: s.MySQLMigrator, MySQLPassword: s.MySQLMigratorPassword})
}

// URL is how a service reaches d listening at addr (host:port).
func (d Datastore) URL(addr string, s Secrets) string {
	switch d.Engine {
	case MongoDB:
		if s.MongoPassword != "" {
			return "mongodb://" + MongoUser(d) + ":" + s.MongoPassword + "@" + addr + "/" + d.Database + "?authSource=" + d.Database
		}
		return "mongodb://" + addr + "/" + d.Database
	case Redis:
		auth := ""
		if s.RedisPassword != "" {
			auth = ":" + s.RedisPassword + "@"
		}
		return "redis://" + auth + addr + "/" + d.Database
	case MySQL:
		auth := s.MySQLUser
		if s.MySQLPassword != "" {
			auth += ":" + s.MySQLPassword
		}
		return auth + "@tcp(" + addr + ")/" + d.Database + "?parseTime=true"
	}
	panic("unknown engine " + string(d.Engine))
}

// Env is the environment that wires service s: it listens on listen, finds
// its datastore at storeURL and each service it calls at serviceURL(name)
// (http://host:port). Everything else a service reads has a default.
func (s Service) Env(shop Shop, listen, storeURL string, serviceURL func(name string) string) map[string]string {
	env := map[string]string{"LISTEN_ADDR": listen, shop.Datastore(s.Store).Engine.EnvVar(): storeURL}
	for _, c := range s.Calls {
		env[URLVar(c)] = serviceURL(c)
	}
	return env
}

// URLVar is the variable that holds the base URL of service name: USER_URL.
func URLVar(name string) string {
	return strings.ToUpper(name) + "_URL"
}

// EnvList is env as KEY=value lines in key order, for exec.Cmd.Env.
func EnvList(env map[string]string) []string {
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, fmt.Sprintf("%s=%s", k, env[k]))
	}
	return out
}
