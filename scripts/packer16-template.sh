#!/usr/bin/env bash
# Copies packer/ into DEST for Debian's packer 1.6.6 (the offline validate in make test, and
# build-ova.sh where only 1.6 is installed): without plugins.pkr.hcl (1.6 has the builders built
# in and rejects required_plugins) and without the lines tagged `# packer >= 1.7` (arguments
# its built-in builders do not know yet, e.g. vsphere-iso's destroy).
#   packer16-template.sh DEST
set -euo pipefail
(($# == 1)) || { echo "usage: $0 DEST" >&2; exit 2; }
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
mkdir -p "$1"
cp -r "$ROOT/packer/." "$1/"
rm -f "$1/plugins.pkr.hcl" "$1"/*.auto.pkrvars.hcl
sed -i '/# packer >= 1\.7$/d' "$1"/*.pkr.hcl
