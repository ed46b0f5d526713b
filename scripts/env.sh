# Source this file to run pulumi and fkguard by hand the way `make` does:
#   . scripts/env.sh && pulumi preview -s local
# It puts the built toolchain and the program's virtualenv first on PATH, keeps Pulumi's own
# files inside the project, and forbids plugin downloads (this machine works offline).
# Its `pulumi` (scripts/bin) gives the local stack its public passphrase and refuses that
# passphrase for any other stack; it is never exported to the shell, where `pulumi stack init
# staging` would silently encrypt staging's password with it.
_fkguard_project=$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)
export PATH="$_fkguard_project/scripts/bin:$_fkguard_project/.tools/bin:$_fkguard_project/.venv/bin:$PATH"
# The PostgreSQL client tools make bootstrap linked (pg_dump 18 for backups of newer servers).
export FKGUARD_PG_TOOLS="$_fkguard_project/.tools/postgres"
export PULUMI_HOME="$_fkguard_project/.pulumi-home"
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
# The engine writes the state once at the end of an update instead of after every step: each write is the whole
# state, so per-step writes cost the square of the catalog. A crash then leaves the state of before the run, and
# docs/recovery.md converges from there (fkguard adopts what the dead run made). Set it to false beforehand to keep them.
export PULUMI_SKIP_CHECKPOINTS="${PULUMI_SKIP_CHECKPOINTS:-true}"
mkdir -p "$_fkguard_project/.pulumi-state"
unset _fkguard_project
