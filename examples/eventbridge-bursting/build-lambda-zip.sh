#!/usr/bin/env bash
# Builds the AWS Lambda deployment package of the bursting function: a zip with handler.py at its
# root. The function uses the Python standard library only, so nothing else goes in; the zip is
# the same bytes for the same handler.py (fixed timestamps and modes). Then, for example:
#   aws lambda create-function --function-name vsan-capacity-bursting --runtime python3.12 \
#     --handler handler.lambda_handler --timeout 60 --zip-file fileb://bursting.zip \
#     --role arn:aws:iam::ACCOUNT_ID:role/vsan-capacity-bursting
#
# Usage: examples/eventbridge-bursting/build-lambda-zip.sh OUT.zip
# Needs: python3.
set -euo pipefail

die() { printf 'build-lambda-zip: %s\n' "$*" >&2; exit 1; }

(($# == 1)) || die "usage: $0 OUT.zip"
OUT=$1
HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
command -v python3 >/dev/null || die "python3 is not installed"
[[ -d $(dirname -- "$OUT") ]] || die "the folder of $OUT does not exist"
trap 'rm -f "$OUT.partial"' EXIT

python3 - "$HERE/handler.py" "$OUT.partial" <<'PY'
import sys
import zipfile

source, out = sys.argv[1:]
entry = zipfile.ZipInfo("handler.py", date_time=(1980, 1, 1, 0, 0, 0))
entry.external_attr = 0o644 << 16
entry.compress_type = zipfile.ZIP_DEFLATED
with open(source, "rb") as f, zipfile.ZipFile(out, "w") as z:
    z.writestr(entry, f.read())
PY
mv "$OUT.partial" "$OUT"
printf 'built %s (%s bytes; handler: handler.lambda_handler)\n' "$OUT" "$(stat -c %s "$OUT")"
