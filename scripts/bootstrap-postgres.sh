#!/usr/bin/env bash
# Installs Debian's PostgreSQL 15 server when it is missing (the embedded cluster needs its binaries).
set -euo pipefail

bin=/usr/lib/postgresql/15/bin
if [ -x "$bin/pg_ctl" ] && [ -x "$bin/pg_dump" ]; then
  echo "bootstrap: PostgreSQL 15 is installed" >&2
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "bootstrap: PostgreSQL 15 is missing and installing it needs root: sudo apt-get install postgresql-15" >&2
  exit 1
fi
echo "bootstrap: installing PostgreSQL 15 from Debian's packages (about a minute)" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq || { echo "bootstrap: apt-get update failed: check the network to the Debian mirror" >&2; exit 1; }
# Debian would create and start a cluster of its own; fkguard runs its own throwaway cluster.
mkdir -p /etc/postgresql-common/createcluster.d
echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.d/fkguard.conf
apt-get install -y -qq postgresql-15 postgresql-client-15 >/dev/null \
  || { echo "bootstrap: apt-get install postgresql-15 failed (above)" >&2; exit 1; }
echo "bootstrap: PostgreSQL 15 installed" >&2
