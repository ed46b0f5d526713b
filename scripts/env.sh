# Source this file to run pulumi and fkguard by hand the way `make` does:
#   . scripts/env.sh && pulumi preview -s local
# It puts the built toolchain and the program's virtualenv first on PATH, keeps Pulumi's own
# files inside the project, and forbids plugin downloads (this machine works offline).
_fkguard_project=$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)
export PATH="$_fkguard_project/.tools/bin:$_fkguard_project/.venv/bin:$PATH"
export PULUMI_HOME="$_fkguard_project/.pulumi-home"
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
# The passphrase of the local stack only; staging and production bring their own.
if [ -z "${PULUMI_CONFIG_PASSPHRASE:-}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
  . "$_fkguard_project/scripts/local.env"
  export PULUMI_CONFIG_PASSPHRASE
fi
mkdir -p "$_fkguard_project/.pulumi-state"
unset _fkguard_project
