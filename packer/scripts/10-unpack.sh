#!/usr/bin/env bash
# Unpacks the payload scripts/build-ova.sh prepared (uploaded by packer to $PAYLOAD.tar.gz,
# outside /tmp so the reboot after the update does not empty it).
set -euo pipefail
: "${PAYLOAD:?PAYLOAD must name the payload folder}"
rm -rf "$PAYLOAD"
mkdir -p "$PAYLOAD"
tar -xzf "$PAYLOAD.tar.gz" -C "$PAYLOAD"
rm -f "$PAYLOAD.tar.gz"
for f in bom.json bin/firstboot systemd/firstboot.service images/event-router.tar lib/fetch.sh; do
  [[ -e $PAYLOAD/$f ]] || { echo "error: the payload has no $f (rebuild it with scripts/build-ova.sh)" >&2; exit 1; }
done
echo "payload for ${APPLIANCE_VERSION:?} (${APPLIANCE_COMMIT:?}) unpacked in $PAYLOAD"
