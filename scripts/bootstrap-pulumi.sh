#!/usr/bin/env bash
# Builds the Pulumi CLI and its Python language host from the Go module proxy, once per version,
# into a cache outside the clone, and links them as <project>/.tools/bin. Nothing from the Pulumi
# modules is committed: the wrapper module below is written afresh in the cache each time.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
project=$(dirname "$here")
# shellcheck source=toolchain.env
. "$here/toolchain.env"

cache_root=${FKGUARD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/fkguard}
key="pulumi-$PULUMI_VERSION-langhost-${PULUMI_LANGUAGE_PYTHON_VERSION##*-}"
dest="$cache_root/$key"
link="$project/.tools/bin"

say() { echo "bootstrap: $*" >&2; }
die() { echo "bootstrap: $*" >&2; exit 1; }

link_tools() {
  mkdir -p "$project/.tools"
  ln -sfn "$dest/bin" "$link"
}

if [ -f "$dest/.complete" ]; then
  link_tools
  say "Pulumi $PULUMI_VERSION already built ($dest)"
  exit 0
fi

command -v go >/dev/null 2>&1 || die "Go is not installed: install Go $GO_MIN or newer (apt-get install golang-go, or https://go.dev/dl) and run make bootstrap again"
have=$(go env GOVERSION | sed 's/^go//')
if [ "$(printf '%s\n%s\n' "$GO_MIN" "$have" | sort -V | head -1)" != "$GO_MIN" ]; then
  die "Go $have is too old to build Pulumi $PULUMI_VERSION (needs $GO_MIN): install a newer Go, or export GOTOOLCHAIN=go$GO_MIN"
fi

proxy=$(go env GOPROXY | cut -d, -f1)
if [ "$proxy" != off ] && [ "$proxy" != direct ]; then
  code=$(curl -s -o /dev/null -m 30 -w '%{http_code}' "$proxy/github.com/pulumi/pulumi/pkg/v3/@v/$PULUMI_VERSION.info" || true)
  [ "$code" = 200 ] || die "the Go module proxy $proxy does not answer for pulumi/pkg/v3@$PULUMI_VERSION (HTTP ${code:-none}): check the network or GOPROXY, then run make bootstrap again"
fi

# Build in a scratch folder and move it into place only when everything is there, so an
# interrupted build never leaves a cache entry that looks complete.
mkdir -p "$cache_root"
work=$(mktemp -d "$cache_root/.build-XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin"
export GOFLAGS=-mod=mod CGO_ENABLED=0
export GONOSUMDB=github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python

wrapper() { # folder, then `go get` arguments: a throwaway module that requires what is built
  mkdir -p "$work/$1" && cd "$work/$1"
  printf 'module fkguard.invalid/%s\n\ngo %s\n' "$1" "$GO_MIN" > go.mod
  shift
  go get "$@" >get.log 2>&1 || { tail -5 get.log >&2; die "go get $* failed (above)"; }
}

build() { # name, package, version stamp: a heartbeat every 15 s, the first build takes minutes
  local name=$1 pkg=$2 stamp=$3 started=$SECONDS pid
  go build -v -trimpath -tags osusergo,grpcnotrace \
    -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$stamp" \
    -o "$work/bin/$name" "$pkg" >"$work/$name.log" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 15
    kill -0 "$pid" 2>/dev/null && say "  building $name: $((SECONDS - started))s, $(wc -l <"$work/$name.log") packages compiled"
  done
  wait "$pid" || { tail -20 "$work/$name.log" >&2; die "building $name failed (above)"; }
  say "  built $name in $((SECONDS - started))s"
}

say "resolving the Pulumi $PULUMI_VERSION modules from $proxy"
wrapper cli "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi@$PULUMI_VERSION" "github.com/pulumi/pulumi/sdk/v3@$PULUMI_VERSION"
say "building the pulumi CLI $PULUMI_VERSION (the first build takes 5 to 10 minutes on 2 cores)"
build pulumi github.com/pulumi/pulumi/pkg/v3/cmd/pulumi "$PULUMI_VERSION"
sdk=$(go list -m -f '{{.Dir}}' "github.com/pulumi/pulumi/sdk/v3")

say "resolving the Python language host $PULUMI_LANGUAGE_PYTHON_VERSION"
wrapper langhost "github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3@$PULUMI_LANGUAGE_PYTHON_VERSION" \
  "github.com/pulumi/pulumi/pkg/v3@$PULUMI_LANGUAGE_PYTHON_SDK" "github.com/pulumi/pulumi/sdk/v3@$PULUMI_LANGUAGE_PYTHON_SDK"
grep -qF "pulumi-language-python/v3 $PULUMI_LANGUAGE_PYTHON_VERSION $PULUMI_LANGUAGE_PYTHON_SUM" go.sum \
  || die "the language host module's hash is not the pinned $PULUMI_LANGUAGE_PYTHON_SUM: refusing to build it"
say "building the Python language host (about a minute)"
build pulumi-language-python github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3 "$PULUMI_LANGUAGE_PYTHON_SDK"

# The two runtime scripts ship in the CLI's sdk module; the module cache drops their executable bit.
cp "$sdk/python/cmd/pulumi-language-python-exec" "$work/bin/"
cp "$sdk/python/dist/pulumi-resource-pulumi-python" "$work/bin/"
chmod 755 "$work/bin/"*
"$work/bin/pulumi" version >/dev/null || die "the built pulumi does not run"

rm -rf "$dest"
mkdir -p "$dest"
mv "$work/bin" "$dest/bin"
du -sh "$dest" | awk '{print $1}' >"$dest/.size"
touch "$dest/.complete"
link_tools
say "Pulumi $PULUMI_VERSION ready in $dest ($(cat "$dest/.size")), linked as .tools/bin"
