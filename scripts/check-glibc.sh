#!/usr/bin/env bash
# Fails when a binary needs a newer glibc than the appliance's: Photon OS 5 ships glibc 2.36
# (vmware/photon 5.0, SPECS/glibc/glibc.spec), and a binary linked on a newer system can require
# symbol versions it lacks (e.g. __isoc23_strtol@GLIBC_2.38 from C code built with glibc 2.38+),
# so it would not even start there. Prints each binary's highest GLIBC_ version.
#   check-glibc.sh [--max VERSION] BINARY...     (default --max 2.36)
set -euo pipefail
max=2.36
if [[ ${1:-} == --max ]]; then
  [[ -n ${2:-} ]] || { echo "usage: $0 [--max VERSION] BINARY..." >&2; exit 2; }
  max=$2
  shift 2
fi
(($#)) || { echo "usage: $0 [--max VERSION] BINARY..." >&2; exit 2; }
command -v objdump >/dev/null || { echo "error: objdump is not installed (Debian: binutils)" >&2; exit 2; }
status=0
for bin in "$@"; do
  [[ -f $bin ]] || { echo "error: $bin does not exist" >&2; exit 2; }
  need=$(objdump -T "$bin" | grep -oE 'GLIBC_[0-9]+(\.[0-9]+)+' | sed 's/^GLIBC_//' | sort -uV | tail -n1)
  if [[ -z $need ]]; then
    echo "$bin: needs no versioned glibc symbol (static or not glibc)"
  elif [[ $(printf '%s\n%s\n' "$need" "$max" | sort -V | tail -n1) != "$max" ]]; then
    echo "error: $bin needs glibc $need, newer than $max (Photon OS 5): build it on a system with glibc <= $max (Debian 12, Ubuntu 22.04)" >&2
    status=1
  else
    echo "$bin: needs glibc $need (<= $max)"
  fi
done
exit "$status"
