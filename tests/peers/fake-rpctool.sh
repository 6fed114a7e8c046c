#!/usr/bin/env bash
# A stand-in for vmware-rpctool in firstboot's tests. guestinfo.ovfEnv lives in the file
# $FAKE_GUESTINFO: `info-get guestinfo.ovfEnv` prints it and `info-set guestinfo.ovfEnv V`
# replaces it, as the VMX does for the real tool. Every other key the guest sets lives in a file
# of its own under $FAKE_GUESTINFO.keys/: the VMX keeps what the guest sets only while the VM
# runs, so a test removes that folder to stand for a power cycle. An unset key is
# "No value found" (exit 1); a key set to the empty string exists and prints nothing.
set -euo pipefail
file=${FAKE_GUESTINFO:?FAKE_GUESTINFO is not set}
keys=$file.keys
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
"info-get guestinfo."*)
    key=${1#info-get }
    case $key in */* | *" "*)
        echo "fake rpctool: bad key $key" >&2
        exit 1
        ;;
    esac
    if [ ! -e "$keys/$key" ]; then
        echo "No value found" >&2
        exit 1
    fi
    cat "$keys/$key"
    ;;
"info-set guestinfo."*)
    rest=${1#info-set }
    key=${rest%% *}
    value=${rest#"$key"}
    value=${value# }
    case $key in */*)
        echo "fake rpctool: bad key $key" >&2
        exit 1
        ;;
    esac
    mkdir -p "$keys"
    printf '%s' "$value" >"$keys/$key"
    ;;
*)
    echo "fake rpctool: unknown command $1" >&2
    exit 1
    ;;
esac
