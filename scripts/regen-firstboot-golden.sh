#!/usr/bin/env bash
# Re-renders firstboot's golden trees (firstboot/testdata/golden/NAME) from the sample OVF
# environments (firstboot/testdata/NAME.xml) over their seeds (firstboot/testdata/seed/NAME:
# an /etc/shadow and, for self-signed samples, a certificate firstboot reuses). Review the diff
# before committing: the golden files are what the tests hold the renderer to.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cargo build -q -p firstboot --manifest-path "$ROOT/Cargo.toml"
TESTDATA=$ROOT/firstboot/testdata
for env in "$TESTDATA"/*.xml; do
    name=$(basename "$env" .xml)
    [ "$name" = invalid ] && continue
    out=$TESTDATA/golden/$name
    rm -rf "$out"
    mkdir -p "$out"
    if [ -d "$TESTDATA/seed/$name" ]; then
        cp -r "$TESTDATA/seed/$name/." "$out/"
    fi
    "$ROOT/target/debug/firstboot" render --ovf-env "$env" --root "$out" >/dev/null
    echo "golden/$name: $(find "$out" -type f | wc -l) files"
done
