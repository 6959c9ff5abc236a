// Run by the mongo image once, on a fresh data directory, against
// MONGO_INITDB_DATABASE: creates the one user the service connects as, with
// readWrite on its own database and nothing else. The root user
// (MONGO_INITDB_ROOT_*) is for the operator; no service has its password.
db.createUser({
  user: process.env.ROBOSHOP_MONGO_USER,
  pwd: process.env.ROBOSHOP_MONGO_PASSWORD,
  roles: [{ role: "readWrite", db: db.getName() }],
});
