#!/usr/bin/env bash
# Downloads of the appliance build, checked against bom.json. Sourced by the provisioning
# scripts (inside the build VM) and by scripts/pin-bom.sh (on the host).
#
#   bom_files SECTION          prints "name url sha256 dest mode" per file of bom.json's SECTION
#   fetch NAME URL SHA256 DEST MODE
#                              downloads URL to DEST (atomically), checks SHA256 ("null" = not
#                              pinned: refused when BOM_STRICT=1, else recorded and warned) and
#                              appends the result to $BOM_LOCK
# Needs: curl, jq, sha256sum; BOM (path of bom.json).

BOM_LOCK=${BOM_LOCK:-/etc/event-broker-appliance/bom.lock.json}

bom_files() {
  jq -r --arg s "$1" '.[$s].files[] | [.name, .url, (.sha256 // "null"), .dest, .mode] | @tsv' "$BOM"
}

fetch() {
  local name=$1 url=$2 want=$3 dest=$4 mode=$5 got tmp
  if [[ $want == null && ${BOM_STRICT:-0} == 1 ]]; then
    echo "error: $name ($url) has no sha256 in bom.json and BOM_STRICT=1: pin it with scripts/pin-bom.sh" >&2
    return 1
  fi
  mkdir -p "$(dirname "$dest")"
  tmp=$dest.download
  echo "==> $name: $url"
  curl --fail --location --silent --show-error --retry 5 --retry-delay 5 --proto '=https' \
    --output "$tmp" "$url" || { rm -f "$tmp"; echo "error: cannot download $name from $url" >&2; return 1; }
  got=$(sha256sum "$tmp" | awk '{print $1}')
  if [[ $want == null ]]; then
    echo "warning: $name is not pinned in bom.json; fetched sha256 $got (pin it with scripts/pin-bom.sh)" >&2
  elif [[ $got != "$want" ]]; then
    rm -f "$tmp"
    echo "error: $name from $url has sha256 $got, bom.json pins $want: refusing it" >&2
    return 1
  fi
  chmod "$mode" "$tmp"
  mv -f "$tmp" "$dest"
  mkdir -p "$(dirname "$BOM_LOCK")"
  [[ -s $BOM_LOCK ]] || echo '[]' >"$BOM_LOCK"
  jq --arg n "$name" --arg u "$url" --arg s "$got" --arg p "$want" \
    '. + [{name: $n, url: $u, sha256: $s, pinned: ($p != "null")}]' "$BOM_LOCK" >"$BOM_LOCK.new"
  mv -f "$BOM_LOCK.new" "$BOM_LOCK"
}
