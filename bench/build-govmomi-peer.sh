#!/usr/bin/env bash
# Builds bench/peers/govmomi_read.go against the govmomi tree that scripts/install-test-tools.sh
# unpacked for vcsim and govc (GOPATH mode, offline) into .tools/bin/govmomi-read.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
GO=${GO:-/usr/bin/go}
GP=$ROOT/.tools/build/gopath
SRC=$ROOT/bench/peers/govmomi_read.go
OUT=$ROOT/.tools/bin/govmomi-read
[[ -d $GP/src/github.com/vmware/govmomi ]] || {
  echo "build-govmomi-peer: no govmomi tree under $GP; run 'make tools' first" >&2
  exit 1
}
if [[ -x $OUT && $OUT -nt $SRC ]]; then
  exit 0
fi
cd "$GP/src/github.com/vmware/govmomi"
GO111MODULE=off GOPROXY=off GOFLAGS='' GOENV=off GOPATH="$GP:/usr/share/gocode" \
  GOCACHE="$ROOT/.tools/build/gocache" "$GO" build -ldflags='-s -w' -o "$OUT.new" "$SRC"
mv -f "$OUT.new" "$OUT"
