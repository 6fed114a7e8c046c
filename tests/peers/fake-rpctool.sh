#!/usr/bin/env bash
# A stand-in for vmware-rpctool in firstboot's tests: guestinfo.ovfEnv lives in the file
# $FAKE_GUESTINFO; `info-get guestinfo.ovfEnv` prints it and `info-set guestinfo.ovfEnv V`
# replaces it, as the VMX does for the real tool.
set -euo pipefail
file=${FAKE_GUESTINFO:?FAKE_GUESTINFO is not set}
case $1 in
"info-get guestinfo.ovfEnv")
    if [ ! -s "$file" ]; then
        echo "No value found" >&2
        exit 1
    fi
    cat "$file"
    ;;
"info-set guestinfo.ovfEnv "*)
    printf '%s' "${1#info-set guestinfo.ovfEnv }" >"$file"
    ;;
*)
    echo "fake rpctool: unknown command $1" >&2
    exit 1
    ;;
esac
