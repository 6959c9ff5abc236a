package topology

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
)

// Cmd is one command to run: a program, its arguments and extra environment.
type Cmd struct {
	Path string
	Args []string
	Env  []string // added to the caller's environment
}

// Run runs c to completion here; a failure carries its output.
func (c Cmd) Run(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, c.Path, c.Args...)
	cmd.Env = append(os.Environ(), c.Env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %v\n%s", c.Path, err, out)
	}
	return nil
}

// Host is where one datastore runs and how.
type Host struct {
	Dir  string // its own directory: data, socket, temporary files
	Bind string // the address it listens on
	Port int
	// MongoStandIn is the stand-in binary used where mongod is not installed
	// (standins/mongostandin: embedded FerretDB).
	MongoStandIn string
	// FerretDB is FerretDB's server, which MongoDB needs where it has a
	// password (Secrets.MongoPassword): the embedded stand-in cannot sign
	// users in. scripts/deps.sh builds it.
	FerretDB string
	// Throwaway trades durability for speed (tests): a crash may lose the
	// last second of commits, which a test's data never outlives anyway.
	Throwaway bool
	// MariaDBUser is the OS user MariaDB's server runs as, where the caller
	// is root and can hand its directory over (the lab: Debian's mysql);
	// empty: the caller.
	MariaDBUser string
	Secrets
}

// Server is how to start one datastore: Prepare runs first, in order, to
// completion; Start is the server; Setup runs once it listens (retry it until
// it succeeds: a server listens a moment before it answers).
type Server struct {
	Prepare []Cmd
	Start   Cmd
	Setup   []Cmd
}

// Server returns the commands that run d on h. The data directory is created here.
func (d Datastore) Server(h Host) (Server, error) {
	if err := os.MkdirAll(h.Dir, 0o700); err != nil {
		return Server{}, err
	}
	port := strconv.Itoa(h.Port)
	switch d.Engine {
	case MongoDB:
		if h.MongoPassword != "" {
			return d.ferretDB(h)
		}
		if mongod, err := exec.LookPath("mongod"); err == nil {
			return Server{Start: Cmd{Path: mongod, Args: []string{"--bind_ip", h.Bind, "--port", port, "--dbpath", h.Dir, "--quiet"}}}, nil
		}
		if h.MongoStandIn == "" {
			return Server{}, fmt.Errorf("%s: no mongod on PATH and no stand-in binary given", d.Name)
		}
		return Server{Start: Cmd{Path: h.MongoStandIn, Args: []string{"-listen", h.hostPort(), "-dir", h.Dir}}}, nil
	case Redis:
		args := []string{"--port", port, "--bind", h.Bind, "--dir", h.Dir, "--save", "", "--appendonly", "no",
			"--loglevel", "notice", // its start and its saves: a log that says it is up
			// A cart store that fills up evicts carts nearest their expiry rather
			// than refusing writes (as compose and EC2 configure it).
			"--maxmemory", "64mb", "--maxmemory-policy", "volatile-lru"}
		if h.RedisPassword != "" {
			args = append(args, "--requirepass", h.RedisPassword)
		}
		return Server{Start: Cmd{Path: "redis-server", Args: args}}, nil
	case MySQL:
		return d.mariaDB(h)
	}
	return Server{}, fmt.Errorf("unknown engine %s", d.Engine)
}

// ferretDB runs FerretDB's server with SCRAM sign-in and one user, made at its
// first start: MongoUser in d's database, with the password the service is
// given. (FerretDB has no roles: on mongod that user would have readWrite on
// its database only, as on EC2, in compose and in the chart.)
func (d Datastore) ferretDB(h Host) (Server, error) {
	if h.FerretDB == "" {
		return Server{}, fmt.Errorf("%s: a MongoDB with a password needs FerretDB's server (ROBOSHOP_FERRETDB; scripts/deps.sh builds it)", d.Name)
	}
	return Server{Start: Cmd{Path: h.FerretDB,
		Args: []string{"--handler=sqlite", "--sqlite-url=file:" + h.Dir + "/", "--state-dir=" + h.Dir,
			"--listen-addr=" + h.hostPort(), "--debug-addr=-", "--telemetry=disable", "--log-level=info"},
		// Through the environment, never the command line (ps shows it).
		Env: []string{"FERRETDB_TEST_ENABLE_NEW_AUTH=true", "FERRETDB_SETUP_DATABASE=" + d.Database,
			"FERRETDB_SETUP_USERNAME=" + MongoUser(d), "FERRETDB_SETUP_PASSWORD=" + h.MongoPassword}}}, nil
}

// MongoUser is the one user a service signs in to its MongoDB as: named
// after the database it may use.
func MongoUser(d Datastore) string { return d.Database }

func (h Host) hostPort() string { return h.Bind + ":" + strconv.Itoa(h.Port) }

// mariaDB installs a data directory whose root logs in over the socket only
// (as the current OS user), starts the server, and creates the database and
// the application's user, as compose's entrypoint and EC2's user data do.
func (d Datastore) mariaDB(h Host) (Server, error) {
	osUser, err := user.Current()
	if err != nil {
		return Server{}, err
	}
	data, tmp := filepath.Join(h.Dir, "data"), filepath.Join(h.Dir, "tmp")
	// Temporary tables go under the server's own directory, not a /tmp every
	// parallel install and server shares (an install once lost one there).
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return Server{}, err
	}
	if h.MariaDBUser != "" {
		// The server drops to this user itself (--user) and writes its
		// socket, pid file and temporary tables here.
		if osUser, err = user.Lookup(h.MariaDBUser); err != nil {
			return Server{}, err
		}
		uid, _ := strconv.Atoi(osUser.Uid)
		gid, _ := strconv.Atoi(osUser.Gid)
		for _, dir := range []string{h.Dir, tmp} {
			if err := os.Chown(dir, uid, gid); err != nil {
				return Server{}, err
			}
		}
	}
	server := Server{
		Prepare: []Cmd{{Path: "mariadb-install-db", Env: []string{"TMPDIR=" + tmp}, Args: []string{
			"--no-defaults", "--datadir=" + data, "--user=" + osUser.Username,
			"--auth-root-authentication-method=socket", "--skip-test-db", "--skip-name-resolve"}}},
		Start: Cmd{Path: mariadbd(), Args: []string{
			"--no-defaults", "--datadir=" + data, "--user=" + osUser.Username, "--port=" + strconv.Itoa(h.Port),
			"--bind-address=" + h.Bind, "--socket=" + MariaDBSocket(h.Dir), "--pid-file=" + filepath.Join(h.Dir, "mariadb.pid"),
			"--tmpdir=" + tmp, "--skip-name-resolve", "--skip-log-bin", "--max-connections=500"}},
	}
	if h.Throwaway {
		server.Start.Args = append(server.Start.Args, "--innodb-buffer-pool-size=64M", "--innodb-log-file-size=16M",
			"--innodb-flush-log-at-trx-commit=2", "--sync-binlog=0")
	}
	server.Setup = []Cmd{MariaDBAdmin(h.Dir, CreateMySQLDatabase(d.Database, h.Secrets))}
	return server, nil
}

// MariaDBSocket is the socket of the MariaDB server whose directory is dir.
func MariaDBSocket(dir string) string { return filepath.Join(dir, "mariadb.sock") }

// MariaDBAdmin runs sql as the server's administrator, over its socket, bounded
// in time: a client must never wait for ever on a server that does not answer.
func MariaDBAdmin(dir, sql string) Cmd {
	name := "root"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	client := "mariadb"
	if _, err := exec.LookPath(client); err != nil {
		client = "mysql"
	}
	return Cmd{Path: client, Args: []string{"--no-defaults", "--connect-timeout=10", "--socket=" + MariaDBSocket(dir), "-u" + name, "-e", sql}}
}

// CreateMySQLDatabase is the SQL that makes database db and its users, each
// if new: the schema's owner (Secrets.MySQLMigrator) with every right on db,
// and the application's user with only what it uses, reading and writing
// rows; without an owner, the application's user owns db.
func CreateMySQLDatabase(db string, s Secrets) string {
	sql := fmt.Sprintf("CREATE DATABASE IF NOT EXISTS `%s` CHARACTER SET utf8mb4; "+
		"CREATE USER IF NOT EXISTS '%s'@'%%' IDENTIFIED BY '%s'; ", db, s.MySQLUser, s.MySQLPassword)
	if s.MySQLMigrator == "" {
		return sql + fmt.Sprintf("GRANT ALL PRIVILEGES ON `%s`.* TO '%s'@'%%';", db, s.MySQLUser)
	}
	return sql + fmt.Sprintf("GRANT %s ON `%s`.* TO '%s'@'%%'; "+
		"CREATE USER IF NOT EXISTS '%s'@'%%' IDENTIFIED BY '%s'; "+
		"GRANT ALL PRIVILEGES ON `%s`.* TO '%s'@'%%';", MySQLAppPrivileges, db, s.MySQLUser,
		s.MySQLMigrator, s.MySQLMigratorPassword, db, s.MySQLMigrator)
}

// MySQLAppPrivileges are the rights payment's own user holds on its
// database: rows only, no DDL, no DROP, no GRANT.
const MySQLAppPrivileges = "SELECT, INSERT, UPDATE, DELETE"

func mariadbd() string {
	for _, p := range []string{"mariadbd", "/usr/sbin/mariadbd"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	return "mariadbd"
}
