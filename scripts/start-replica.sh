#!/usr/bin/env bash
# Start a PostgreSQL streaming read replica of the local test server, for the tests that
# need one (ORM_TEST_POSTGRES_REPLICA).
#
#   primary: the Debian cluster <ver>/main on 127.0.0.1:5432 (must already be up)
#   replica: the Debian cluster <ver>/replica on 127.0.0.1:5433, trust auth, hot standby
#
# Idempotent: when the replica is up and streaming this only checks it (well under a
# second); when the cluster exists but is stopped (e.g. after a reboot) it starts it; when
# it is broken (not in recovery, wrong port, cannot stream) it drops and recreates it from
# a fresh base backup. Every run ends by proving streaming works: a row written on the
# primary must become visible on the replica. Replay left paused (pg_wal_replay_pause(),
# used by tests to simulate lag) is resumed first.
#
# Needs root (or the postgres user) because it edits /etc/postgresql and runs
# pg_createcluster / pg_ctlcluster. Exits non-zero with a message on any failure.
set -euo pipefail

PRIMARY_HOST=127.0.0.1
PRIMARY_PORT="${PG_PRIMARY_PORT:-5432}"
REPLICA_PORT="${PG_REPLICA_PORT:-5433}"
CLUSTER=replica
DB=test
START=$(date +%s.%N)

die() { echo "start-replica: error: $*" >&2; exit 1; }
say() { echo "start-replica: $*" >&2; }

# Commands run as the postgres user, from a directory it can read.
cd /
if [ "$(id -u)" = 0 ]; then
  as_pg() { runuser -u postgres -- "$@"; }
elif [ "$(id -un)" = postgres ]; then
  as_pg() { "$@"; }
else
  as_pg() { die "must run as root or postgres (tried: $*)"; }
fi

export PGCONNECT_TIMEOUT=3
psql_primary() { psql -X -q -v ON_ERROR_STOP=1 -At -h "$PRIMARY_HOST" -p "$PRIMARY_PORT" -U postgres "$@"; }
psql_replica() { psql -X -q -v ON_ERROR_STOP=1 -At -h 127.0.0.1 -p "$REPLICA_PORT" -U postgres "$@"; }

# One run at a time (the probe table and the cluster are shared).
# Servers started below must not inherit fd 9 (they would hold the lock for good).
LOCK=/tmp/orm-start-replica.lock
if command -v flock >/dev/null && { exec 9>>"$LOCK"; } 2>/dev/null; then
  flock -w 120 9 || die "another start-replica.sh has held $LOCK for 120 s"
fi

# --- The primary -----------------------------------------------------------------------
psql_primary -c 'SELECT 1' postgres >/dev/null 2>&1 \
  || die "the primary does not answer on $PRIMARY_HOST:$PRIMARY_PORT (start it first: pg_ctlcluster --skip-systemctl-redirect <ver> main start)"

VER=$(psql_primary -c 'SHOW server_version_num' postgres)
VER=$((VER / 10000))
[ -d "/etc/postgresql/$VER" ] || VER=$(ls /etc/postgresql | sort -V | tail -n1)
BIN="/usr/lib/postgresql/$VER/bin"
[ -x "$BIN/pg_basebackup" ] || die "no $BIN/pg_basebackup (PostgreSQL $VER server binaries missing?)"

wal_level=$(psql_primary -c 'SHOW wal_level' postgres)
senders=$(psql_primary -c 'SHOW max_wal_senders' postgres)
case "$wal_level" in replica|logical) ;; *)
  die "the primary has wal_level=$wal_level; streaming needs replica or logical (set it in its postgresql.conf and restart it)";;
esac
[ "$senders" -gt 0 ] || die "the primary has max_wal_senders=$senders; streaming needs at least 1 (set it and restart the primary)"

# The primary must accept replication connections from 127.0.0.1 without a password.
can_replicate() {
  psql -X -At "host=$PRIMARY_HOST port=$PRIMARY_PORT user=postgres replication=true" \
    -c 'IDENTIFY_SYSTEM' >/dev/null 2>&1
}
if ! can_replicate; then
  hba=$(psql_primary -c 'SHOW hba_file' postgres)
  rule='host replication all 127.0.0.1/32 trust'
  if ! grep -Eq '^[[:space:]]*host[[:space:]]+replication[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust[[:space:]]*$' "$hba"; then
    say "adding '$rule' to $hba"
    # First match wins in pg_hba.conf, so the rule goes before the first rule already there.
    tmp=$(mktemp)
    awk -v rule="$rule" '
      !done && $0 !~ /^[[:space:]]*(#|$)/ { print "# Streaming replica on 127.0.0.1 (scripts/start-replica.sh)"; print rule; done = 1 }
      { print }
      END { if (!done) { print "# Streaming replica on 127.0.0.1 (scripts/start-replica.sh)"; print rule } }
    ' "$hba" >"$tmp"
    cat "$tmp" >"$hba"   # keeps the file's owner and mode
    rm -f "$tmp"
  fi
  psql_primary -c 'SELECT pg_reload_conf()' postgres >/dev/null
  for _ in 1 2 3 4 5 6 7 8 9 10; do can_replicate && break; sleep 0.3; done
  can_replicate || die "the primary still refuses 'replication' connections from 127.0.0.1 as postgres; check $hba (an earlier rule may match first) and SELECT * FROM pg_hba_file_rules WHERE error IS NOT NULL"
fi

# The database the tests use must exist on the primary (the replica gets it by streaming).
if [ -z "$(psql_primary -c "SELECT 1 FROM pg_database WHERE datname = '$DB'" postgres)" ]; then
  say "creating database $DB on the primary"
  psql_primary -c "CREATE DATABASE $DB" postgres >/dev/null
fi

# --- The replica cluster ---------------------------------------------------------------
# pg_lsclusters -h: ver cluster port status owner datadir logfile
cluster_line() { pg_lsclusters -h 2>/dev/null | awk -v v="$VER" -v c="$CLUSTER" '$1 == v && $2 == c'; }
cluster_field() { cluster_line | awk -v n="$1" '{ print $n }'; }
logfile() { local f; f=$(cluster_field 7); echo "${f:-/var/log/postgresql/postgresql-$VER-$CLUSTER.log}"; }
show_log() {
  local f; f=$(logfile)
  [ -r "$f" ] || return 0
  echo "--- last lines of $f:" >&2
  tail -n 200 "$f" | grep -v '_replica_probe' | tail -n 15 >&2 || true
}

# Up to $1 seconds for the replica to accept connections and report recovery; fails at
# once when it answers but is not in recovery (promoted, or not a replica at all).
wait_recovery() {
  local deadline=$(( $(date +%s) + $1 )) r
  while [ "$(date +%s)" -lt "$deadline" ]; do
    r=$(psql_replica -c 'SELECT pg_is_in_recovery()' "$DB" 2>/dev/null || true)
    [ "$r" = t ] && return 0
    [ "$r" = f ] && return 1
    sleep 0.2
  done
  return 1
}

start_cluster() {
  pg_ctlcluster --skip-systemctl-redirect "$VER" "$CLUSTER" start 9>&- \
    || { show_log; return 1; }
}

drop_cluster() {
  say "dropping cluster $VER/$CLUSTER"
  pg_ctlcluster --skip-systemctl-redirect "$VER" "$CLUSTER" stop -m immediate >/dev/null 2>&1 || true
  if ! pg_dropcluster --stop "$VER" "$CLUSTER" >/dev/null 2>&1; then
    # Half-made cluster pg_dropcluster cannot handle: remove exactly its two directories.
    rm -rf "/etc/postgresql/$VER/$CLUSTER" "/var/lib/postgresql/$VER/$CLUSTER"
  fi
  [ -z "$(cluster_line)" ] || die "could not drop cluster $VER/$CLUSTER"
}

create_cluster() {
  say "creating cluster $VER/$CLUSTER on port $REPLICA_PORT from a base backup of $PRIMARY_HOST:$PRIMARY_PORT"
  pg_createcluster "$VER" "$CLUSTER" -p "$REPLICA_PORT" -- --no-sync >/dev/null \
    || die "pg_createcluster $VER $CLUSTER -p $REPLICA_PORT failed (is port $REPLICA_PORT taken by another cluster? see pg_lsclusters)"
  local data conf
  data=$(cluster_field 6)
  conf="/etc/postgresql/$VER/$CLUSTER"
  [ -n "$data" ] && [ -d "$data" ] || die "pg_createcluster made no data directory for $VER/$CLUSTER"

  # The replica's own files: trust for local sockets, 127.0.0.1 and ::1, like the primary.
  cat >"$conf/pg_hba.conf" <<'EOF'
# Streaming replica for the ORM's tests (scripts/start-replica.sh): trust, like the primary.
# TYPE  DATABASE     USER  ADDRESS       METHOD
local   all          all                 trust
host    all          all   127.0.0.1/32  trust
host    all          all   ::1/128       trust
local   replication  all                 trust
host    replication  all   127.0.0.1/32  trust
host    replication  all   ::1/128       trust
EOF
  # A hot standby needs these at least as large as on the primary.
  local settings="" name value
  for name in max_connections max_worker_processes max_wal_senders max_prepared_transactions max_locks_per_transaction; do
    value=$(psql_primary -c "SHOW $name" postgres)
    settings+="$name = $value"$'\n'
  done
  mkdir -p "$conf/conf.d"
  cat >"$conf/conf.d/90-replica.conf" <<EOF
# Written by scripts/start-replica.sh: streaming replica of $PRIMARY_HOST:$PRIMARY_PORT.
listen_addresses = '127.0.0.1'
port = $REPLICA_PORT
hot_standby = on
hot_standby_feedback = on
$settings
EOF
  chown -R postgres:postgres "$conf"

  # Replace initdb's data with a base backup; -R writes standby.signal and primary_conninfo.
  find "$data" -mindepth 1 -delete
  as_pg env -u PGCONNECT_TIMEOUT "$BIN/pg_basebackup" -h "$PRIMARY_HOST" -p "$PRIMARY_PORT" -U postgres -D "$data" \
      -R -X stream -c fast \
    || die "pg_basebackup from $PRIMARY_HOST:$PRIMARY_PORT into $data failed"
}

# Up: started and in recovery within 30 s. Anything else is "broken".
bring_up() {
  local status
  status=$(cluster_field 4)
  case "$status" in
    online*) ;;
    *) say "starting cluster $VER/$CLUSTER"; start_cluster || return 1 ;;
  esac
  wait_recovery 30 || { say "cluster $VER/$CLUSTER is not a replica in recovery on port $REPLICA_PORT"; show_log; return 1; }
}

# Proof of streaming: a row written on the primary shows up on the replica within 10 s.
probe() {
  # Replay paused by a test that did not resume it would fail the probe; resume it.
  if [ "$(psql_replica -c 'SELECT pg_is_wal_replay_paused()' "$DB" 2>/dev/null)" = t ]; then
    say "replay was paused on the replica; resuming it"
    psql_replica -c 'SELECT pg_wal_replay_resume()' "$DB" >/dev/null
  fi
  local token seen="" deadline
  token="$(date +%s%N)-$$-$RANDOM"
  trap 'psql_primary -c "DROP TABLE IF EXISTS public._replica_probe" "$DB" >/dev/null 2>&1 || true' EXIT
  psql_primary "$DB" >/dev/null <<EOF || die "could not write the probe table public._replica_probe on the primary"
CREATE TABLE IF NOT EXISTS public._replica_probe (v text);
INSERT INTO public._replica_probe VALUES ('$token');
EOF
  deadline=$(( $(date +%s) + 10 ))
  while [ "$(date +%s)" -lt "$deadline" ]; do
    if [ "$(psql_replica -c "SELECT to_regclass('public._replica_probe') IS NOT NULL" "$DB" 2>/dev/null)" = t ]; then
      seen=$(psql_replica -c "SELECT count(*) FROM public._replica_probe WHERE v = '$token'" "$DB" 2>/dev/null || true)
    fi
    [ "$seen" = 1 ] && break
    sleep 0.1
  done
  psql_primary -c 'DROP TABLE IF EXISTS public._replica_probe' "$DB" >/dev/null 2>&1 || true
  trap - EXIT
  [ "$seen" = 1 ]
}

existing_port=$(cluster_field 3)
if [ -n "$(cluster_line)" ] && [ "$existing_port" != "$REPLICA_PORT" ]; then
  say "cluster $VER/$CLUSTER is on port $existing_port, not $REPLICA_PORT"
  drop_cluster
fi

action=checked
if [ -z "$(cluster_line)" ]; then
  create_cluster; action=created
  bring_up || die "the new replica did not come up in recovery within 30 s"
else
  case "$(cluster_field 4)" in online*) ;; *) action=started ;; esac
  if ! bring_up; then
    drop_cluster; create_cluster; action=recreated
    bring_up || die "the recreated replica did not come up in recovery within 30 s"
  fi
fi

if ! probe; then
  if [ "$action" = created ] || [ "$action" = recreated ]; then
    show_log
    die "a row written on the primary did not reach the fresh replica within 10 s"
  fi
  # E.g. the primary recycled WAL the stopped replica still needed: start over.
  say "the replica does not stream (a probe row did not arrive within 10 s)"
  show_log
  drop_cluster; create_cluster; action=recreated
  bring_up || die "the recreated replica did not come up in recovery within 30 s"
  probe || { show_log; die "a row written on the primary did not reach the recreated replica within 10 s"; }
fi

lsn=$(psql_replica -c 'SELECT pg_last_wal_replay_lsn()' "$DB")
took=$(awk -v a="$START" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
echo "start-replica: $action $VER/$CLUSTER: 127.0.0.1:$REPLICA_PORT streams from $PRIMARY_HOST:$PRIMARY_PORT (in recovery, replayed to $lsn) in ${took}s"
