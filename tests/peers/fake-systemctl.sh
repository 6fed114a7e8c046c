#!/usr/bin/env bash
# A stand-in for systemctl in firstboot's tests (there is no systemd to drive in a test):
# records every call in $FAKE_SYSTEMD_DIR/calls and keeps each unit's enabled/active state as
# files under $FAKE_SYSTEMD_DIR/{enabled,active}/UNIT, following systemctl's exit codes.
set -euo pipefail
dir=${FAKE_SYSTEMD_DIR:?FAKE_SYSTEMD_DIR is not set}
mkdir -p "$dir/enabled" "$dir/active"
echo "$*" >>"$dir/calls"
verb=$1
shift
now=0
units=()
for arg in "$@"; do
    case $arg in
    --now) now=1 ;;
    --quiet | --no-block) ;;
    *) units+=("$arg") ;;
    esac
done
for unit in "${units[@]}"; do
    case $verb in
    is-enabled) [ -e "$dir/enabled/$unit" ] || exit 1 ;;
    is-active) [ -e "$dir/active/$unit" ] || exit 3 ;;
    enable)
        touch "$dir/enabled/$unit"
        if [ $now = 1 ]; then touch "$dir/active/$unit"; fi
        ;;
    disable)
        rm -f "$dir/enabled/$unit"
        if [ $now = 1 ]; then rm -f "$dir/active/$unit"; fi
        ;;
    start | restart) touch "$dir/active/$unit" ;;
    stop) rm -f "$dir/active/$unit" ;;
    *)
        echo "fake systemctl: unknown verb $verb" >&2
        exit 1
        ;;
    esac
done
