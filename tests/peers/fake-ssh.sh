#!/usr/bin/env bash
# A stand-in for ssh in scripts/upgrade.sh's tests (vcsim's VMs have no guest to log in to):
# `ssh [OPTIONS] USER@HOST COMMAND` runs COMMAND with bash against a folder standing in for the
# guest's /.
#
# $FAKE_SSH_DIR/hosts maps addresses to guests, one per line: `HOST VM ROOT` (VM: the VM's name in
# vcsim when the address is first used; ROOT: the folder that is the guest's /). Of the guests
# listed at HOST, the one whose VM is powered on answers, as with a static address shared by an
# old and a new VM: none powered on is "no route to host", two is an address conflict. The VM is
# looked up by name with $GOVC (govc's environment is inherited) and remembered while it exists,
# so renames do not matter.
#
# Every absolute path after a space in COMMAND is moved under ROOT. kubectl, firstboot and chown
# are this script again (linked under those names into $FAKE_SSH_DIR/guest-VM/bin, first in
# PATH), with the guest's state in $FAKE_SSH_DIR/guest-VM:
#   replicas      the router Deployment's replicas (1 when absent)
#   no-router     when it exists, there is no router Deployment
#   functions     what `kubectl -n vmware-functions get ksvc,trigger -o name` prints (and
#                 `get ksvc`, `get trigger` their lines)
#   applied.yaml  what `kubectl apply -f -` received
#   waited        the `kubectl wait` calls
#   firstboot     `failed`: `firstboot status` reports a failed run
#   chown         the chown calls
# Each login is logged in $FAKE_SSH_DIR/log as `VM: COMMAND` (`HOST: refused: COMMAND` when no
# guest answers); a login without SSHPASS in the environment (upgrade.sh exports the password
# there), or with another one than $FAKE_SSH_PASSWORD when that is set, is refused.
set -euo pipefail

guest_kubectl() {
    local g=${FAKE_GUEST:?} replicas args="$*"
    case $args in
    "-n vmware-system get deploy/event-router -o name" | "-n vmware-system scale deploy/event-router --replicas="*)
        if [[ -e $g/no-router ]]; then
            echo 'Error from server (NotFound): deployments.apps "event-router" not found' >&2
            exit 1
        fi
        if [[ $args == *--replicas=* ]]; then
            echo "${args##*=}" >"$g/replicas"
            echo "deployment.apps/event-router scaled"
        else
            echo "deployment.apps/event-router"
        fi
        ;;
    "-n vmware-system get pods -l app.kubernetes.io/name=event-router -o name")
        replicas=$(cat "$g/replicas" 2>/dev/null || echo 1)
        if [[ $replicas != 0 ]]; then echo "pod/event-router-6f7d8c9b5-x2x9z"; fi
        ;;
    "-n vmware-functions get ksvc,trigger -o name")
        cat "$g/functions" 2>/dev/null || true
        ;;
    "-n vmware-functions get ksvc -o name")
        grep '^service.serving.knative.dev/' "$g/functions" 2>/dev/null || true
        ;;
    "-n vmware-functions get trigger -o name")
        grep '^trigger.eventing.knative.dev/' "$g/functions" 2>/dev/null || true
        ;;
    "apply -f -")
        cat >>"$g/applied.yaml"
        echo "applied"
        ;;
    "-n vmware-functions wait --for=condition=Ready "*" --all --timeout="*)
        echo "$args" >>"$g/waited"
        ;;
    *)
        echo "fake kubectl: unexpected arguments: $*" >&2
        exit 1
        ;;
    esac
}

guest_firstboot() {
    local g=${FAKE_GUEST:?} now
    [[ $* == status ]] || {
        echo "fake firstboot: unexpected arguments: $*" >&2
        exit 1
    }
    now=$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)
    if [[ $(cat "$g/firstboot" 2>/dev/null || true) == failed ]]; then
        printf 'last run: started %s, failed (finished %s)\nproperties from: guestinfo.ovfEnv\n\nerror: the router did not become ready within 900 s\n' "$now" "$now"
        exit 1
    fi
    printf 'last run: started %s, ok (finished %s)\nproperties from: guestinfo.ovfEnv\n' "$now" "$now"
}

case $(basename "$0") in
kubectl)
    guest_kubectl "$@"
    exit
    ;;
firstboot)
    guest_firstboot "$@"
    exit
    ;;
chown)
    echo "chown $*" >>"${FAKE_GUEST:?}/chown"
    exit
    ;;
esac

dir=${FAKE_SSH_DIR:?FAKE_SSH_DIR is not set}
self=$(readlink -f "$0")
target=""
while (($#)); do
    case $1 in
    -o | -i | -l | -p | -F | -J) shift 2 ;;
    -*) shift ;;
    *)
        target=$1
        shift
        break
        ;;
    esac
done
command="$*"
host=${target#*@}

answering=()
while read -r h vm root; do
    [[ $h == "$host" ]] || continue
    state=$dir/guest-$vm
    mkdir -p "$state"
    # The VM found by its name the first time (again when that one was removed since).
    power=""
    if [[ -s $state/moref ]]; then
        power=$("${GOVC:?GOVC is not set}" object.collect -s "$(cat "$state/moref")" runtime.powerState 2>/dev/null) || power=""
    fi
    if [[ -z $power ]]; then
        "$GOVC" find -i -type m -name "$vm" 2>/dev/null | head -n1 >"$state/moref" || true
        [[ -s $state/moref ]] || continue
        power=$("$GOVC" object.collect -s "$(cat "$state/moref")" runtime.powerState 2>/dev/null) || continue
    fi
    if [[ $power == poweredOn ]]; then
        answering+=("$vm $root")
    fi
done <"$dir/hosts"

if ((${#answering[@]} == 0)); then
    echo "$host: refused: $command" >>"$dir/log"
    echo "ssh: connect to host $host port 22: No route to host" >&2
    exit 255
fi
if ((${#answering[@]} > 1)); then
    echo "$host: conflict: $command" >>"$dir/log"
    echo "fake ssh: two powered-on VMs have the address $host: ${answering[*]}" >&2
    exit 255
fi
read -r vm root <<<"${answering[0]}"
echo "$vm: $command" >>"$dir/log"
if [[ -z ${SSHPASS:-} || -n ${FAKE_SSH_PASSWORD:-} && $SSHPASS != "$FAKE_SSH_PASSWORD" ]]; then
    echo "$target: Permission denied (publickey,password)." >&2
    exit 255
fi
state=$dir/guest-$vm
mkdir -p "$state/bin"
for tool in kubectl firstboot chown; do
    ln -sf "$self" "$state/bin/$tool"
done
FAKE_GUEST=$state PATH="$state/bin:$PATH" exec bash -c "${command// \// $root/}"
