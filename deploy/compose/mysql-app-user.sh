# Sourced by the mysql image's entrypoint once, on a fresh data directory,
# while the server listens on its socket only and after it made MYSQL_USER
# (all rights on MYSQL_DATABASE: the schema's owner, whom payment's
# migrations connect as). Makes the user the payment service connects as,
# which may read and write rows of MYSQL_DATABASE and nothing else: no DDL, no
# DROP, no GRANT. Passwords are up.sh's (letters and digits).
MYSQL_PWD="$MYSQL_ROOT_PASSWORD" mysql --protocol=socket --socket=/var/run/mysqld/mysqld.sock -uroot <<SQL
CREATE USER '$ROBOSHOP_MYSQL_APP_USER'@'%' IDENTIFIED BY '$ROBOSHOP_MYSQL_APP_PASSWORD';
GRANT SELECT, INSERT, UPDATE, DELETE ON \`$MYSQL_DATABASE\`.* TO '$ROBOSHOP_MYSQL_APP_USER'@'%';
SQL
