#!/usr/bin/env bash
# Start a MariaDB GTID read replica of the local test server, for the tests that need one
# (ORM_TEST_MYSQL_REPLICA=mysql://root@127.0.0.1:3307/test).
#
#   primary: the Debian server on 127.0.0.1:3306 (must already be up). Its binary log is
#            turned on once (a drop-in in /etc/mysql/mariadb.conf.d and one restart) when off.
#   replica: a second mariadbd on 127.0.0.1:3307: /etc/mysql/orm-replica.cnf (read through
#            --defaults-file only), datadir /var/lib/mysql-replica, server_id 2, read_only.
#            It applies only `test` and the databases named ormrepl*; the rest of the suite's
#            traffic is fetched with the binary log but skipped.
#
# Users on the replica: root@127.0.0.1 (TCP, no password, what the tests use) has every
# privilege but READ_ONLY ADMIN, so its writes fail as on a real read replica (error 1290);
# root@localhost (unix socket, used by this script) keeps it.
#
# Idempotent: when the replica is up and replicating this only checks it (well under a
# second); when it is stopped (e.g. after a reboot) it starts it; replication threads left
# stopped (STOP SLAVE [SQL_THREAD], used by tests to simulate lag) are started again; when
# it is broken (replication errors, wrong master, cannot start) it is wiped and rebuilt
# from a consistent dump of `test` and ormrepl* taken on the primary. Every run ends by
# proving replication works: a row written on the primary must become visible on the
# replica, and MASTER_GTID_WAIT for the primary's position must succeed.
#
# Needs root (start-stop-daemon, /etc/mysql, the data directory). Exits non-zero with a
# message on any failure.
set -euo pipefail

PRIMARY_HOST=127.0.0.1
PRIMARY_PORT="${MYSQL_PRIMARY_PORT:-3306}"
REPLICA_PORT="${MYSQL_REPLICA_PORT:-3307}"
MARIADBD=/usr/sbin/mariadbd
PRIMARY_DROPIN_DIR=/etc/mysql/mariadb.conf.d
PRIMARY_DROPIN="$PRIMARY_DROPIN_DIR/60-orm-primary.cnf"
CNF=/etc/mysql/orm-replica.cnf
DATADIR=/var/lib/mysql-replica
RUNDIR=/run/mysqld
SOCK="$RUNDIR/mysqld-replica.sock"
PIDFILE="$RUNDIR/mysqld-replica.pid"
LOGFILE=/var/log/mysql/replica-error.log
PROBE_DB=ormrepl_probe
START=$(date +%s.%N)

die() { echo "start-mariadb-replica: error: $*" >&2; exit 1; }
say() { echo "start-mariadb-replica: $*" >&2; }

cd /
[ "$(id -u)" = 0 ] || die "must run as root (it runs start-stop-daemon and writes /etc/mysql and $DATADIR)"
for tool in mariadb mariadb-admin mariadb-dump mariadb-install-db start-stop-daemon; do
  command -v "$tool" >/dev/null || die "$tool is not installed (Debian: apt-get install mariadb-server mariadb-client)"
done
[ -x "$MARIADBD" ] || die "no $MARIADBD (Debian: apt-get install mariadb-server)"

# -N -B: bare values, tab-separated. The primary over TCP as root@127.0.0.1, the replica
# over its own socket as root@localhost (unix_socket auth, holds READ_ONLY ADMIN).
my_p() { mariadb -h "$PRIMARY_HOST" -P "$PRIMARY_PORT" -uroot --connect-timeout=3 -N -B "$@"; }
my_r() { mariadb -S "$SOCK" -uroot --connect-timeout=3 -N -B "$@"; }
primary_up() { my_p -e 'SELECT 1' >/dev/null 2>&1; }
replica_up() { my_r -e 'SELECT 1' >/dev/null 2>&1; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# A process that has exited but is not reaped yet (a zombie) counts as gone.
alive() { kill -0 "$1" 2>/dev/null && ! ps -o stat= -p "$1" 2>/dev/null | grep -q '^Z'; }
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

# One run at a time (the probe database and the replica are shared).
# Servers started below must not inherit fd 9 (they would hold the lock for good).
LOCK=/tmp/orm-start-mariadb-replica.lock
if command -v flock >/dev/null && { exec 9>>"$LOCK"; } 2>/dev/null; then
  flock -w 120 9 || die "another start-mariadb-replica.sh has held $LOCK for 120 s"
fi

# --- The primary -----------------------------------------------------------------------
primary_up || die "the primary does not answer on $PRIMARY_HOST:$PRIMARY_PORT as root (start it first: start-stop-daemon --start --oknodo --background --pidfile /run/mysqld/mysqld.pid --exec $MARIADBD)"

restarted=""
primary_dropin() {
  cat <<'EOF'
# Written by scripts/start-mariadb-replica.sh: the binary log the GTID replica on
# 127.0.0.1:3307 reads. Row events (DDL is logged as statements regardless); the log is not
# fsynced (sync_binlog = 0) and old files go after a day, so it stays cheap for the tests.
[mysqld]
server_id = 1
log_bin = mysql-bin
binlog_format = ROW
sync_binlog = 0
max_binlog_size = 64M
binlog_expire_logs_seconds = 86400
EOF
}

# Turns the binary log on: the drop-in (and, when my.cnf does not read the drop-in
# directory, an !includedir line), then one clean restart of the primary.
enable_binlog() {
  mkdir -p "$PRIMARY_DROPIN_DIR"
  primary_dropin >"$PRIMARY_DROPIN"
  if ! "$MARIADBD" --print-defaults 2>/dev/null | grep -Eq -- '--log[-_]bin=mysql-bin'; then
    local mycnf=/etc/mysql/my.cnf
    [ -f "$mycnf" ] || die "the primary's options do not include $PRIMARY_DROPIN and there is no $mycnf to add it to"
    say "adding '!includedir $PRIMARY_DROPIN_DIR/' to $mycnf"
    printf '\n# Drop-ins (scripts/start-mariadb-replica.sh writes 60-orm-primary.cnf there).\n!includedir %s/\n' \
      "$PRIMARY_DROPIN_DIR" >>"$mycnf"
    "$MARIADBD" --print-defaults 2>/dev/null | grep -Eq -- '--log[-_]bin=mysql-bin' \
      || die "$MARIADBD still does not read $PRIMARY_DROPIN (see $MARIADBD --print-defaults)"
  fi
  # Refuse to stop a server that would not start again with these options.
  local err
  err=$(mktemp)
  if ! "$MARIADBD" --help --verbose >/dev/null 2>"$err"; then
    grep -i error "$err" >&2 || cat "$err" >&2
    rm -f "$err"
    die "the primary's options with $PRIMARY_DROPIN are rejected by $MARIADBD; not restarting it"
  fi
  rm -f "$err"

  local pidfile pid t0 tables
  pidfile=$(my_p -e 'SELECT @@pid_file')
  pid=$(cat "$pidfile" 2>/dev/null || true)
  tables=$(my_p -e "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'test'")
  t0=$(date +%s.%N)
  say "restarting the primary (pid ${pid:-?}) to turn on its binary log ($PRIMARY_DROPIN)"
  mariadb-admin -h "$PRIMARY_HOST" -P "$PRIMARY_PORT" -uroot --connect-timeout=3 shutdown \
    || die "mariadb-admin shutdown of the primary failed"
  local deadline=$(( $(date +%s) + 60 ))
  while { [ -n "$pid" ] && alive "$pid"; } || port_open "$PRIMARY_PORT"; do
    [ "$(date +%s)" -lt "$deadline" ] || die "the primary (pid ${pid:-?}) did not stop within 60 s"
    sleep 0.1
  done
  install -d -o mysql -g mysql -m 755 "$RUNDIR"
  # --pidfile: the replica is a /usr/sbin/mariadbd too; --exec alone would take it for the
  # primary and start nothing.
  start-stop-daemon --start --oknodo --background --pidfile "$pidfile" --exec "$MARIADBD" 9>&- \
    || die "start-stop-daemon could not start $MARIADBD (see /var/log/mysql/error.log)"
  deadline=$(( $(date +%s) + 60 ))
  until primary_up; do
    [ "$(date +%s)" -lt "$deadline" ] || { tail -n 15 /var/log/mysql/error.log >&2 || true; die "the primary did not come back on $PRIMARY_HOST:$PRIMARY_PORT within 60 s"; }
    sleep 0.2
  done
  [ "$(my_p -e 'SELECT @@log_bin')" = 1 ] || die "the primary came back without its binary log (is $PRIMARY_DROPIN read? see $MARIADBD --print-defaults)"
  local after
  after=$(my_p -e "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'test'")
  [ "$after" = "$tables" ] || say "warning: the primary's database test had $tables tables before the restart and $after after"
  restarted=" (primary restarted with its binary log on in $(elapsed "$t0")s)"
  say "the primary is back with its binary log on (pid $(cat "$pidfile" 2>/dev/null || echo ?), ${after} tables in test, $(elapsed "$t0") s)"
}

primary_vars() { my_p -e 'SELECT @@log_bin, @@server_id' || die "could not read @@log_bin from the primary"; }
read -r log_bin primary_id < <(primary_vars)
case "$log_bin" in
  1) ;;
  0) enable_binlog; read -r log_bin primary_id < <(primary_vars) ;;
  *) die "could not read @@log_bin from the primary (got '${log_bin:-}')" ;;
esac
[ "$primary_id" != 2 ] || die "the primary has server_id 2, the replica's; give it another (e.g. 1 in $PRIMARY_DROPIN)"

# The database the tests use must exist on the primary (the replica gets it by the dump).
my_p -e 'CREATE DATABASE IF NOT EXISTS test'

# --- The replica -----------------------------------------------------------------------
# Its options, with the primary's settings that change what statements mean.
replica_cnf() {
  local cs coll lctn edft mode engine maxconn packet
  IFS=$'\t' read -r cs coll lctn edft mode engine maxconn packet < <(my_p -e \
    'SELECT @@character_set_server, @@collation_server, @@lower_case_table_names,
            @@explicit_defaults_for_timestamp, @@global.sql_mode, @@default_storage_engine,
            @@max_connections, @@max_allowed_packet')
  cat <<EOF
# Written by scripts/start-mariadb-replica.sh (rewritten when it differs): a GTID replica
# of $PRIMARY_HOST:$PRIMARY_PORT for the ORM's tests. Read only via --defaults-file; the main
# server never reads it.
[mysqld]
user = mysql
datadir = $DATADIR
socket = $SOCK
pid-file = $PIDFILE
port = $REPLICA_PORT
bind-address = 127.0.0.1
skip-name-resolve
log-error = $LOGFILE
server_id = 2
skip-log-bin
read_only = ON
relay_log = relay-bin
# Applied relay logs are deleted a file at a time; keep the files small.
max_relay_log_size = 64M
slave_net_timeout = 10
# Only \`test\` and the ormrepl* databases are applied. Table patterns decide by the tables a
# statement touches (not the default database), and a table pattern of % also lets the
# database's CREATE/ALTER/DROP DATABASE through.
replicate_wild_do_table = ormrepl%.%
replicate_wild_do_table = test.%
# Small and cheap: a test server, rebuilt from the primary whenever it breaks.
innodb_buffer_pool_size = 64M
innodb_log_file_size = 48M
innodb_flush_log_at_trx_commit = 2
performance_schema = OFF
# As on the primary.
character_set_server = $cs
collation_server = $coll
lower_case_table_names = $lctn
explicit_defaults_for_timestamp = $edft
sql_mode = "$mode"
default_storage_engine = $engine
max_connections = $maxconn
max_allowed_packet = $packet
EOF
}

show_log() {
  [ -r "$LOGFILE" ] || return 0
  echo "--- last lines of $LOGFILE:" >&2
  tail -n 15 "$LOGFILE" >&2 || true
}

# Pids of our replica's mariadbd: the pid file's, else any process started with our file.
replica_pids() {
  local pid
  pid=$(cat "$PIDFILE" 2>/dev/null || true)
  if [ -n "$pid" ] && alive "$pid"; then echo "$pid"; return; fi
  pgrep -x mariadbd -a 2>/dev/null | awk -v f="--defaults-file=$CNF" '{ for (i = 3; i <= NF; i++) if ($i == f) print $1 }'
}

stop_replica() {
  local pids pid deadline
  pids=$(replica_pids)
  [ -n "$pids" ] || return 0
  mariadb-admin -S "$SOCK" -uroot --connect-timeout=3 shutdown >/dev/null 2>&1 || kill $pids 2>/dev/null || true
  deadline=$(( $(date +%s) + 30 ))
  for pid in $pids; do
    while alive "$pid"; do
      if [ "$(date +%s)" -ge "$deadline" ]; then kill -9 "$pid" 2>/dev/null || true; sleep 0.2; break; fi
      sleep 0.1
    done
  done
}

# Up to 30 s for the replica to answer on its socket; fails early when mariadbd exits.
start_replica() {
  install -d -o mysql -g mysql -m 755 "$RUNDIR"
  install -d -o mysql -g mysql -m 2750 "$(dirname "$LOGFILE")" 2>/dev/null || true
  start-stop-daemon --start --oknodo --background --pidfile "$PIDFILE" --exec "$MARIADBD" \
      -- --defaults-file="$CNF" 9>&- \
    || { show_log; return 1; }
  local deadline=$(( $(date +%s) + 30 ))
  sleep 0.2
  until replica_up; do
    if [ "$(date +%s)" -ge "$deadline" ] || [ -z "$(replica_pids)" ]; then
      say "the replica did not come up on $SOCK"; show_log; return 1
    fi
    sleep 0.2
  done
  # mariadbd exits when it cannot bind its port, so answering with this port means it has it.
  local got
  got=$(my_r -e 'SELECT @@port, @@server_id' 2>/dev/null | tr '\t' ' ' || true)
  [ "$got" = "$REPLICA_PORT 2" ] || { say "the replica on $SOCK reports port and server_id '$got', not '$REPLICA_PORT 2'"; show_log; return 1; }
}

# Slave status as "field<TAB>value" lines; empty when no master is configured.
slave_status() { mariadb -S "$SOCK" -uroot --connect-timeout=3 -E -e 'SHOW SLAVE STATUS' 2>/dev/null | sed -n 's/^ *\([A-Za-z_]*\): \(.*\)$/\1\t\2/p; s/^ *\([A-Za-z_]*\):$/\1\t/p'; }
field() { awk -F'\t' -v k="$1" '$1 == k { print $2; exit }' <<<"$status"; }

# Up to $1 seconds for both replication threads to run; 2 when a thread has stopped on an
# error (or never connects), 1 on timeout.
wait_threads() {
  local deadline=$(( $(date +%s) + $1 ))
  while :; do
    status=$(slave_status)
    [ -n "$status" ] || return 2
    [ "$(field Slave_SQL_Running)" = Yes ] && [ "$(field Slave_IO_Running)" = Yes ] && return 0
    [ "$(field Slave_SQL_Running)" = No ] && [ "$(field Last_SQL_Errno)" != 0 ] && return 2
    [ "$(field Slave_IO_Running)" = No ] && [ "$(field Last_IO_Errno)" != 0 ] && return 2
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

describe_status() {
  status=$(slave_status)
  if [ -z "$status" ]; then echo "no master configured"; return; fi
  echo "IO $(field Slave_IO_Running) (errno $(field Last_IO_Errno): $(field Last_IO_Error)), SQL $(field Slave_SQL_Running) (errno $(field Last_SQL_Errno): $(field Last_SQL_Error))"
}

# Wipe, initialise, start, seed from a consistent dump of the primary, start replicating.
create_replica() {
  say "creating the replica in $DATADIR from a dump of $PRIMARY_HOST:$PRIMARY_PORT"
  stop_replica
  [ -n "$(replica_pids)" ] && die "could not stop the old replica (pid $(replica_pids | tr '\n' ' '))"
  rm -rf "$DATADIR" "$SOCK" "$PIDFILE"
  install -d -o mysql -g mysql -m 750 "$DATADIR"
  local out
  out=$(mktemp)
  mariadb-install-db --defaults-file="$CNF" --auth-root-authentication-method=socket --skip-test-db >"$out" 2>&1 \
    || { tail -n 20 "$out" >&2; rm -f "$out"; die "mariadb-install-db --defaults-file=$CNF failed"; }
  rm -f "$out"
  start_replica || die "the new replica did not start"

  # The dump's snapshot and its GTID position are consistent (START TRANSACTION WITH
  # CONSISTENT SNAPSHOT and Binlog_snapshot_*, no global read lock on the busy primary).
  local dbs dump pos
  dbs=$(my_p -e "SELECT schema_name FROM information_schema.schemata WHERE schema_name = 'test' OR schema_name LIKE 'ormrepl%' ORDER BY 1")
  dump=$(mktemp)
  # shellcheck disable=SC2086  # database names: letters, digits and _
  mariadb-dump -h "$PRIMARY_HOST" -P "$PRIMARY_PORT" -uroot --single-transaction --gtid --master-data=2 \
      --routines --events --triggers --databases $dbs >"$dump" \
    || { rm -f "$dump"; die "mariadb-dump of $(echo $dbs) from the primary failed"; }
  grep -q "^-- SET GLOBAL gtid_slave_pos='" "$dump" || { rm -f "$dump"; die "the primary's dump names no GTID position"; }
  pos=$(sed -n "s/^-- SET GLOBAL gtid_slave_pos='\(.*\)';\$/\1/p" "$dump" | tail -n1)
  my_r <"$dump" || { rm -f "$dump"; die "loading the primary's dump into the replica failed"; }
  rm -f "$dump"

  my_r <<EOF || die "configuring replication on the replica failed"
CREATE USER IF NOT EXISTS 'root'@'127.0.0.1';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
REVOKE READ_ONLY ADMIN ON *.* FROM 'root'@'127.0.0.1';
SET GLOBAL gtid_slave_pos = '$pos';
CHANGE MASTER TO MASTER_HOST = '$PRIMARY_HOST', MASTER_PORT = $PRIMARY_PORT, MASTER_USER = 'root',
  MASTER_PASSWORD = '', MASTER_USE_GTID = slave_pos, MASTER_CONNECT_RETRY = 1;
START SLAVE;
EOF
  wait_threads 15 || { show_log; die "replication did not start on the new replica: $(describe_status)"; }
}

# Proof: a row written on the primary shows up on the replica within 10 s, then the
# replica reaches the primary's GTID position (after the probe's DROP) within 5 s.
gtid_wait=""
probe() {
  local token seen="" deadline pos
  token="$(date +%s%N)-$$-$RANDOM"
  trap 'my_p -e "DROP DATABASE IF EXISTS $PROBE_DB" >/dev/null 2>&1 || true' EXIT
  my_p <<EOF >/dev/null || die "could not write the probe database $PROBE_DB on the primary"
CREATE DATABASE IF NOT EXISTS $PROBE_DB;
CREATE TABLE IF NOT EXISTS $PROBE_DB.p (v varchar(64)) ENGINE = InnoDB;
INSERT INTO $PROBE_DB.p VALUES ('$token');
EOF
  deadline=$(( $(date +%s) + 10 ))
  while [ "$(date +%s)" -lt "$deadline" ]; do
    seen=$(my_r -e "SELECT COUNT(*) FROM $PROBE_DB.p WHERE v = '$token'" 2>/dev/null || true)
    [ "$seen" = 1 ] && break
    sleep 0.05
  done
  my_p -e "DROP DATABASE IF EXISTS $PROBE_DB" >/dev/null 2>&1 || true
  trap - EXIT
  [ "$seen" = 1 ] || return 1
  pos=$(my_p -e 'SELECT @@gtid_binlog_pos')
  gtid_wait=$(my_r -e "SELECT MASTER_GTID_WAIT('$pos', 5)" 2>/dev/null || true)
  [ "$gtid_wait" = 0 ] || { say "MASTER_GTID_WAIT('$pos', 5) on the replica returned '${gtid_wait}'"; return 1; }
  [ -z "$(my_r -e "SHOW DATABASES LIKE '$PROBE_DB'")" ] || { say "DROP DATABASE $PROBE_DB did not reach the replica"; return 1; }
}

action=checked
# Its options file first: a change means a restart.
new_cnf=$(replica_cnf)
if [ ! -f "$CNF" ] || [ "$(cat "$CNF")" != "$new_cnf" ]; then
  [ -f "$CNF" ] && say "updating $CNF"
  printf '%s\n' "$new_cnf" >"$CNF"
  if [ -n "$(replica_pids)" ]; then say "restarting the replica for its new options"; stop_replica; fi
fi

# Something else on the replica's port would take the tests' connections.
if [ -z "$(replica_pids)" ] && port_open "$REPLICA_PORT"; then
  die "127.0.0.1:$REPLICA_PORT is taken by another process (not the replica of $CNF)"
fi

if [ ! -d "$DATADIR/mysql" ]; then
  create_replica; action=created
else
  if [ -z "$(replica_pids)" ] || ! replica_up; then
    say "starting the replica ($CNF)"
    action=started
    if ! start_replica; then
      create_replica; action=recreated
    fi
  fi
  if [ "$action" != recreated ]; then
    status=$(slave_status)
    host=$(field Master_Host); port=$(field Master_Port)
    if [ -z "$status" ] || [ "$host" != "$PRIMARY_HOST" ] || [ "$port" != "$PRIMARY_PORT" ] || [ "$(field Using_Gtid)" != Slave_Pos ]; then
      say "the replica does not replicate $PRIMARY_HOST:$PRIMARY_PORT by GTID ($(describe_status)${host:+, master $host:$port})"
      create_replica; action=recreated
    elif [ "$(field Last_SQL_Errno)" != 0 ] || { [ "$(field Slave_IO_Running)" = No ] && [ "$(field Last_IO_Errno)" != 0 ]; }; then
      say "replication is broken: $(describe_status)"
      create_replica; action=recreated
    else
      if [ "$(field Slave_IO_Running)" = No ] || [ "$(field Slave_SQL_Running)" = No ]; then
        say "starting replication threads left stopped ($(describe_status))"
        my_r -e 'START SLAVE'
        [ "$action" = checked ] && action=resumed
      fi
      # Connecting (e.g. the primary just restarted): the IO thread retries every second.
      if ! wait_threads 10; then
        say "replication does not run: $(describe_status)"
        create_replica; action=recreated
      fi
    fi
  fi
fi

if ! probe; then
  if [ "$action" = created ] || [ "$action" = recreated ]; then
    show_log
    die "a row written on the primary did not reach the fresh replica within 10 s: $(describe_status)"
  fi
  say "the replica does not replicate (probe failed: $(describe_status))"
  create_replica; action=recreated
  probe || { show_log; die "a row written on the primary did not reach the recreated replica within 10 s: $(describe_status)"; }
fi

pos=$(my_r -e 'SELECT @@gtid_slave_pos')
echo "start-mariadb-replica: $action replica 127.0.0.1:$REPLICA_PORT (server_id 2, read-only, test + ormrepl*) of $PRIMARY_HOST:$PRIMARY_PORT by GTID, at $pos, MASTER_GTID_WAIT 0, in $(elapsed "$START")s$restarted"
