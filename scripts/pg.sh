#!/usr/bin/env bash
# The embedded PostgreSQL (15 unless FKGUARD_PG_VERSION says 14, 16, 17 or 18): a throwaway cluster
# on 127.0.0.1 in a git-ignored folder.
# Usage: scripts/pg.sh start|stop|status|destroy|psql [args]
#        scripts/pg.sh standby <primary data folder> <primary port>: a streaming standby of that cluster
#        (pg_basebackup -R), in FKGUARD_PGDATA on FKGUARD_PG_PORT
# Settings (environment): FKGUARD_PG_VERSION, FKGUARD_PGDATA (default <project>/.pgdata, or
# <project>/.pgdata-<version> for a version other than 15), FKGUARD_PG_PORT,
# FKGUARD_PG_DB, FKGUARD_PG_USER, FKGUARD_LOCAL_DB_PASSWORD (defaults in scripts/local.env).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
project=$(dirname "$here")
# shellcheck source=local.env
. "$here/local.env"
PG_MAJOR=${FKGUARD_PG_VERSION:-15}
# Each version has a data folder of its own: a cluster's files are readable by its major only.
if [ "$PG_MAJOR" = 15 ]; then datadir=${FKGUARD_PGDATA:-$project/.pgdata}; else datadir=${FKGUARD_PGDATA:-$project/.pgdata-$PG_MAJOR}; fi
port=$FKGUARD_PG_PORT

die() { echo "pg: $*" >&2; exit 1; }
say() { echo "pg: $*" >&2; }

# 15 is Debian's; the others are what scripts/bootstrap-postgres.sh unpacked and linked, resolved
# to the real folder because the postgres user may not be able to enter the project.
pg_bin() {
  local d
  case "$PG_MAJOR" in
    15)
      d=/usr/lib/postgresql/15/bin
      [ -x "$d/pg_ctl" ] || die "PostgreSQL 15 is not installed. Run: make bootstrap (or apt-get install postgresql-15)" ;;
    14|16|17|18)
      d=$(readlink -f "$project/.tools/postgres/$PG_MAJOR-server/bin" 2>/dev/null || true)
      [ -n "$d" ] && [ -x "$d/pg_ctl" ] || die "PostgreSQL $PG_MAJOR is not installed. Run: FKGUARD_PG_VERSION=$PG_MAJOR make postgres" ;;
    *) die "FKGUARD_PG_VERSION=$PG_MAJOR is not one fkguard runs: use 14, 15, 16, 17 or 18 (or leave it unset for 15)" ;;
  esac
  echo "$d"
}

# Debian's psql 15 talks to servers 14 to 18 alike (the zonky builds have no psql).
psql_bin() {
  local p=/usr/lib/postgresql/15/bin/psql
  [ -x "$p" ] || die "psql 15 is not installed. Run: make bootstrap (or apt-get install postgresql-client-15)"
  echo "$p"
}

# A data folder made by another major cannot be started by this one: say which, before pg_ctl does.
check_major() {
  local real=$1 has
  [ -f "$real/PG_VERSION" ] || return 0
  has=$(cat "$real/PG_VERSION")
  [ "$has" = "$PG_MAJOR" ] || die "$datadir holds a PostgreSQL $has cluster, not $PG_MAJOR: use FKGUARD_PG_VERSION=$has, or another FKGUARD_PGDATA"
}

# initdb refuses to run as root: as root every server command runs as the postgres user.
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

owner_can_enter() {
  [ "$(id -u)" != 0 ] && return 0
  runuser -u postgres -- test -x "$1" 2>/dev/null && runuser -u postgres -- test -w "$1" 2>/dev/null
}

# The real cluster folder. As root, when the postgres user cannot enter the project (root's home
# is 0700), the cluster lives under /var/tmp and the project's folder is a link to it.
resolve_datadir() {
  if [ -L "$datadir" ]; then readlink -f "$datadir"; return; fi
  if [ -d "$datadir" ] || owner_can_enter "$(dirname "$datadir")"; then echo "$datadir"; return; fi
  local key
  key=$(printf '%s' "$datadir" | sha256sum | cut -c1-16)
  echo "/var/tmp/fkguard-pg/$key"
}

port_in_use() {
  python3 - "$port" <<'EOF'
import socket, sys
s = socket.socket()
# As PostgreSQL does: connections in TIME_WAIT from an earlier server must not count as taken.
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(0)
sys.exit(1)
EOF
}

running() {
  local real=$1 pid state
  [ -f "$real/postmaster.pid" ] || return 1
  pid=$(head -1 "$real/postmaster.pid")
  # A killed server can linger as a zombie where nothing reaps it (containers): pg_ctl status
  # would call that running, so look at the process state itself.
  state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

psql_super() {
  local real=$1; shift
  as_owner "$(psql_bin)" -X -q -v ON_ERROR_STOP=1 -h "$real" -p "$port" -d postgres "$@"
}

init_cluster() {
  local real=$1 bin
  bin=$(pg_bin)
  check_major "$real"
  if [ -e "$real" ] && [ ! -f "$real/.fkguard-ready" ]; then
    if running "$real"; then as_owner "$bin/pg_ctl" -D "$real" -m immediate stop >/dev/null || true; fi
    say "data folder $real was left incomplete by an interrupted setup: recreating it"
    rm -rf "$real"
  fi
  [ -f "$real/.fkguard-ready" ] && return 0
  say "creating a PostgreSQL $PG_MAJOR cluster in $real"
  mkdir -p "$real"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$real" && chmod 700 "$real"
  if [ "$real" != "$datadir" ]; then
    mkdir -p "$(dirname "$datadir")"
    ln -sfn "$real" "$datadir"
  fi
  as_owner "$bin/initdb" -D "$real" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
    -E UTF8 --locale=C.UTF-8 >"$real.initdb.log" 2>&1 \
    || { cat "$real.initdb.log" >&2; die "initdb failed (log above); remove $real and retry"; }
  rm -f "$real.initdb.log"
  start_server "$real"
  psql_super "$real" -v user="$FKGUARD_PG_USER" -v pw="$FKGUARD_LOCAL_DB_PASSWORD" -v db="$FKGUARD_PG_DB" <<'EOF'
CREATE ROLE :"user" LOGIN PASSWORD :'pw';
CREATE DATABASE :"db" OWNER :"user";
EOF
  as_owner touch "$real/.fkguard-ready"
}

start_server() {
  local real=$1 bin
  bin=$(pg_bin)
  if [ -f "$real/postmaster.pid" ] && ! running "$real"; then
    say "removing a stale postmaster.pid left by a crashed server"
    rm -f "$real/postmaster.pid"
    # The socket lock names the dead server too, and PostgreSQL trusts a zombie's pid.
    rm -f "$real"/.s.PGSQL.*.lock "$real"/.s.PGSQL.[0-9]*[0-9]
  fi
  if port_in_use; then
    die "port $port on 127.0.0.1 is taken by another process. Stop it, or choose a free port: FKGUARD_PG_PORT=<port> make db-up"
  fi
  # Durable like a production server (make bench measures latencies) unless the caller asks for speed:
  # the test fixtures set FKGUARD_PG_FSYNC=off, since a test cluster is thrown away after a crash anyway.
  local fsync=${FKGUARD_PG_FSYNC:-on} extra=""
  case "$fsync" in on|off) ;; *) die "FKGUARD_PG_FSYNC=$fsync: use on or off" ;; esac
  # fkguard monitor reads statement latency from pg_stat_statements: load it when this build has it.
  if [ -f "$bin/../lib/pg_stat_statements.so" ] || [ -f "$bin/../lib/postgresql/pg_stat_statements.so" ]; then
    extra="-c shared_preload_libraries=pg_stat_statements"
  fi
  as_owner "$bin/pg_ctl" -D "$real" -w -t 60 -l "$real/server.log" \
    -o "-p $port -k $real -c listen_addresses=127.0.0.1 -c fsync=$fsync -c synchronous_commit=$fsync -c max_connections=200 $extra" start >/dev/null \
    || { tail -20 "$real/server.log" >&2; die "the server did not start (log above: $real/server.log)"; }
}

# A hot standby streaming from the primary whose folder (and so socket) and port are given: pg_basebackup -R
# copies it and writes standby.signal and primary_conninfo, as the primary's superuser over its socket (initdb's
# pg_hba trusts local replication connections; wal_level replica and max_wal_senders are PostgreSQL's defaults).
make_standby() {
  local real=$1 primary_real primary_port=$3 bin basebackup
  primary_real=$(readlink -f "$2")
  bin=$(pg_bin)
  # The server's own, else the bootstrap's client 18, which copies any older server too (a server build
  # from Maven Central may come without it).
  basebackup=$bin/pg_basebackup
  [ -x "$basebackup" ] || basebackup=$(readlink -f "$project/.tools/postgres/18-client/bin/pg_basebackup" 2>/dev/null || true)
  [ -n "$basebackup" ] && [ -x "$basebackup" ] || die "no pg_basebackup for PostgreSQL $PG_MAJOR: run make bootstrap"
  [ -n "$primary_port" ] || die "usage: scripts/pg.sh standby <primary data folder> <primary port>"
  [ -e "$real" ] && die "$datadir exists: scripts/pg.sh destroy it first (FKGUARD_PGDATA=$datadir)"
  say "making a standby of 127.0.0.1:$primary_port in $real"
  mkdir -p "$(dirname "$real")"
  if [ "$real" != "$datadir" ]; then
    mkdir -p "$(dirname "$datadir")"
    ln -sfn "$real" "$datadir"
  fi
  mkdir -p "$real"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$real" && chmod 700 "$real"
  as_owner "$basebackup" -h "$primary_real" -p "$primary_port" -U postgres -D "$real" -R -X stream \
    -c fast --no-sync >"$real.basebackup.log" 2>&1 \
    || { cat "$real.basebackup.log" >&2; rm -rf "$real"; die "pg_basebackup failed (log above)"; }
  rm -f "$real.basebackup.log" "$real/server.log"
  # Where it streams from, in words every libpq knows (a newer pg_basebackup writes options an older server's
  # walreceiver refuses); its name in the primary's pg_stat_replication; and a status report every second
  # (default 10 s), so the primary's replay_lag follows a stuck or resumed replay within a second.
  printf "primary_conninfo = 'host=%s port=%s user=postgres'\ncluster_name = 'fkguard-standby'\nwal_receiver_status_interval = '1s'\n" \
    "$primary_real" "$primary_port" | as_owner tee -a "$real/postgresql.auto.conf" >/dev/null
  start_server "$real"
}

cmd=${1:-status}
case "$cmd" in
  start)
    real=$(resolve_datadir)
    check_major "$real"
    if [ -f "$real/.fkguard-ready" ] && running "$real"; then
      say "already running on 127.0.0.1:$port ($datadir)"
      exit 0
    fi
    init_cluster "$real"
    running "$real" || start_server "$real"
    say "running on 127.0.0.1:$port, database $FKGUARD_PG_DB, user $FKGUARD_PG_USER ($datadir)"
    ;;
  stop)
    real=$(resolve_datadir)
    if running "$real"; then
      as_owner "$(pg_bin)/pg_ctl" -D "$real" -m fast -w stop >/dev/null
      say "stopped ($datadir)"
    else
      say "not running ($datadir)"
    fi
    ;;
  destroy)
    real=$(resolve_datadir)
    running "$real" && as_owner "$(pg_bin)/pg_ctl" -D "$real" -m immediate -w stop >/dev/null
    rm -rf "$real" "$datadir"
    say "removed ($datadir)"
    ;;
  status)
    real=$(resolve_datadir)
    if running "$real"; then say "running on 127.0.0.1:$port ($datadir)"; else say "not running ($datadir)"; exit 3; fi
    ;;
  standby)
    real=$(resolve_datadir)
    make_standby "$real" "${2:-}" "${3:-}"
    say "standby running on 127.0.0.1:$port ($datadir)"
    ;;
  psql)
    shift
    real=$(resolve_datadir)
    running "$real" || die "not running: start it with make db-up"
    psql_super "$real" -d "$FKGUARD_PG_DB" "$@"
    ;;
  *) die "unknown command '$cmd': use start, stop, status, destroy, standby or psql" ;;
esac
