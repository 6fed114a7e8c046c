#!/usr/bin/env bash
# Pins packer/bom.json: downloads every artefact that has no sha256 yet and writes its checksum
# into bom.json; with --verify, downloads every pinned one too and fails on any mismatch.
# Needs internet, curl, jq, sha256sum. Review and commit the diff.
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
BOM=${BOM:-$ROOT/packer/bom.json}
VERIFY=0
[[ ${1:-} == --verify ]] && VERIFY=1
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

sha_of() {
  curl --fail --location --silent --show-error --retry 3 --proto '=https' --output "$WORK/f" "$1" ||
    { echo "error: cannot download $1" >&2; return 1; }
  sha256sum "$WORK/f" | awk '{print $1}'
}

status=0
while IFS=$'\t' read -r section index url pinned; do
  if [[ $pinned != null && $VERIFY == 0 ]]; then
    continue
  fi
  got=$(sha_of "$url")
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
