#!/usr/bin/env bash
# Pins and checks packer/bom.json.
#   pin-bom.sh           downloads every artefact that has no sha256 yet and writes its checksum
#                        into bom.json (review and commit the diff)
#   pin-bom.sh --verify  also downloads every pinned artefact and the Photon ISO from each of
#                        photon.iso_urls, and fails on any checksum that differs
#   pin-bom.sh --check   offline, in seconds: the shape of bom.json, no URL on a host its files
#                        have left, and with BOM_STRICT=1 (release tags) every artefact pinned
# --verify and the default need internet, curl, jq, sha256sum; --check needs only jq.
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
BOM=${BOM:-$ROOT/packer/bom.json}
MODE=pin
case ${1:-} in
  "") ;;
  --verify) MODE=verify ;;
  --check) MODE=check ;;
  *) echo "usage: $0 [--verify | --check]" >&2; exit 2 ;;
esac

# Hosts that no longer serve what they used to: Photon's ISOs and repositories moved from
# packages.vmware.com to packages.broadcom.com (vmware/photon#1645, 2026-04); Bintray, their host
# before that, closed in 2021 (vmware/photon#1093).
RETIRED_HOSTS="packages.vmware.com dl.bintray.com"

if [[ $MODE == check ]]; then
  problems=$(jq -r --arg retired "$RETIRED_HOSTS" --arg strict "${BOM_STRICT:-0}" '
    ($retired | split(" ")) as $gone
    | def host: capture("^https://(?<h>[^/:]+)").h // "";
    [ (if (.photon.iso_urls | type) != "array" or (.photon.iso_urls | length) == 0
       then "photon.iso_urls must list the ISO'"'"'s URLs" else empty end),
      (if (.photon.iso_checksum // "" | test("^sha256:[0-9a-f]{64}$")) | not
       then "photon.iso_checksum must be sha256:<64 hex digits>" else empty end),
      (if (.photon.repo_host // "") == "" then "photon.repo_host must name the package host" else empty end),
      ( [ (.photon.iso_urls // [])[] | {name: "photon ISO", url: .} ]
        + [ to_entries[] | select(.value | type == "object" and has("files")) | .value.files[] | {name, url} ]
        | .[]
        | if (.url | host) == "" then "\(.name): \(.url) is not an https URL"
          elif ((.url | host) as $h | $gone | index($h)) then "\(.name): \(.url) is on \(.url | host), which no longer serves it"
          else empty end ),
      ( if $strict == "1" then
          to_entries[] | select(.value | type == "object" and has("files")) | .key as $s
          | .value.files[] | select(.sha256 == null)
          | "\($s)/\(.name): not pinned (sha256 null) and BOM_STRICT=1: run scripts/pin-bom.sh on a connected machine and commit bom.json"
        else empty end )
    ] | .[]' "$BOM")
  if [[ -n $problems ]]; then
    while IFS= read -r line; do echo "pin-bom --check: $line" >&2; done <<<"$problems"
    exit 1
  fi
  echo "pin-bom --check: $BOM is well formed, on current hosts$([[ ${BOM_STRICT:-0} == 1 ]] && echo ', every artefact pinned')"
  exit 0
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

sha_of() {
  curl --fail --location --silent --show-error --retry 3 --proto '=https' --output "$WORK/f" "$1" ||
    { echo "error: cannot download $1" >&2; return 1; }
  sha256sum "$WORK/f" | awk '{print $1}'
}

status=0
if [[ $MODE == verify ]]; then
  want=$(jq -r '.photon.iso_checksum | sub("^sha256:"; "")' "$BOM")
  while read -r url; do
    got=$(sha_of "$url") || { status=1; continue; }
    if [[ $got == "$want" ]]; then
      echo "ok     $url"
    else
      echo "error: $url has sha256 $got, bom.json pins $want" >&2
      status=1
    fi
  done < <(jq -r '.photon.iso_urls[]' "$BOM")
fi

while IFS=$'\t' read -r section index url pinned; do
  if [[ $pinned != null && $MODE != verify ]]; then
    continue
  fi
  got=$(sha_of "$url") || { status=1; continue; }
  if [[ $pinned == null ]]; then
    jq --arg s "$section" --argjson i "$index" --arg h "$got" '.[$s].files[$i].sha256 = $h' "$BOM" >"$WORK/bom"
    cp "$WORK/bom" "$BOM"
    echo "pinned $url $got"
  elif [[ $got == "$pinned" ]]; then
    echo "ok     $url"
  else
    echo "error: $url has sha256 $got, bom.json pins $pinned" >&2
    status=1
  fi
done < <(jq -r 'to_entries[] | select(.value | type == "object" and has("files")) | .key as $s |
  .value.files | to_entries[] | [$s, .key, .value.url, (.value.sha256 // "null")] | @tsv' "$BOM")
exit "$status"
