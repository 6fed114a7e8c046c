#!/usr/bin/env bash
# Upgrades a running appliance to a newer OVA and keeps its configuration and state: reads the
# old VM's vApp properties, deploys the new OVA beside it with them (govc), carries the router's
# checkpoints and dead letters, the generated Endpoint Password and the self-signed TLS
# certificate over SSH, powers the old VM off only once the new router is ready, and swaps the
# names. A dry run by default: checks the inputs and prints every step; --apply does them.
#
# Usage: scripts/upgrade.sh --vm NAME --ova FILE [--apply] [OPTIONS]
#        scripts/upgrade.sh --vm NAME --rollback [--apply] [OPTIONS]
#   --vm NAME            the running appliance's VM
#   --ova FILE           the new appliance's OVA
#   --apply              do it (without: read and check everything, print the plan, change nothing)
#   --rollback           undo an upgrade of NAME: the new VM off, the old one on with its router
#                        scaled back up, the names as before
#   --new-name NAME      the new VM's name while both exist (default NAME-upgrade); at the end the
#                        old VM becomes NAME-previous and the new one NAME
#   --keep-names         leave the names as they are at the end
#   --properties FILE    values that replace or complete the old VM's, in the format of
#                        scripts/appliance.properties.example (passwords vCenter does not return)
#   --functions PATH     a YAML file, or a folder of them, applied to the new appliance
#                        (kubectl apply) before its router resumes from the carried checkpoint
#   --ssh-user USER      default root
#   --ssh-key FILE       an SSH key, tried before the root password
#   --old-host HOST      the old appliance's address (default: its IP Address property, else
#                        what VMware Tools reports)
#   --new-host HOST      the new appliance's address (default: the same IP Address property,
#                        else what VMware Tools reports once it runs)
#   --ready-url URL      the readiness probe (default https://<Hostname>/readyz at the address)
#   --timeout SECONDS    the longest each wait may take (default 900)
#   --no-state           carry no state and use no SSH (see "Upgrading" in the README)
# Environment: govc's (GOVC_URL, GOVC_USERNAME, GOVC_PASSWORD, GOVC_INSECURE, GOVC_DATACENTER;
# GOVC_DATASTORE, GOVC_RESOURCE_POOL and GOVC_FOLDER default to the old VM's), NETWORK (default:
# the old VM's network), SSHPASS (the password for SSH; default: the Root Password property),
# GOVC and SSH (the commands to use; an SSH command logs in by itself: sshpass is not added),
# UPGRADE_POLL_SECONDS (5) and UPGRADE_SHUTDOWN_SECONDS (300, then a guest shutdown is forced).
# Needs govc, jq, curl, tar and sshpass. Exit codes: 0 done (or planned), 1 failed (what was
# undone and what is left is printed), 2 refused before anything was changed.
set -euo pipefail
HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
# shellcheck source=scripts/lib-properties.sh
source "$HERE/lib-properties.sh"

usage() { sed -n '2,37p' "$0" | sed 's/^# \{0,1\}//'; }
die() {
  echo "error: $*" >&2
  exit 2
}
say() { printf '%s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }

# What the script runs on the appliances, as root over SSH. Every absolute path follows a space
# (tests/peers/fake-ssh.sh runs these against a folder standing in for the guest's /).
CHECKPOINTS=/var/lib/event-router/checkpoints
R_CHECK='test -d /var/lib/event-router/checkpoints && command -v kubectl >/dev/null && command -v tar >/dev/null'
R_ROUTER='kubectl -n vmware-system get deploy/event-router -o name'
R_SCALE='kubectl -n vmware-system scale deploy/event-router --replicas='
R_PODS='kubectl -n vmware-system get pods -l app.kubernetes.io/name=event-router -o name'
R_FUNCTIONS='kubectl -n vmware-functions get ksvc,trigger -o name'
R_STATUS='firstboot status'
R_STATE='cd / && ls -d var/lib/event-router/checkpoints etc/event-router/endpoint-password etc/event-router/tls etc/event-router/config.d 2>/dev/null; true'
R_LS_CHECKPOINTS='ls -A /var/lib/event-router/checkpoints'
R_EXTRACT='tar -C / --numeric-owner -xpf -'
R_CHOWN='chown -R 65532:65532 /var/lib/event-router/checkpoints'
R_APPLY='kubectl apply -f -'
# R_WAIT_FUNCTIONS SECONDS: until the Knative Services and Triggers in vmware-functions are ready.
R_WAIT_FUNCTIONS() {
  # shellcheck disable=SC2016 # $kind is the appliance shell's
  printf 'for kind in ksvc trigger; do if kubectl -n vmware-functions get $kind -o name | grep -q .; then kubectl -n vmware-functions wait --for=condition=Ready $kind --all --timeout=%ss || exit 1; fi; done' "$1"
}

APPLY=0 ROLLBACK=0 KEEP_NAMES=0 NO_STATE=0
OLD_NAME="" OVA="" NEW_NAME="" PROPS_FILE="" FUNCTIONS="" SSH_USER=root SSH_KEY=""
OLD_HOST="" NEW_HOST="" READY_URL="" TIMEOUT=900
while (($#)); do
  case $1 in
  --apply) APPLY=1 ;;
  --rollback) ROLLBACK=1 ;;
  --keep-names) KEEP_NAMES=1 ;;
  --no-state) NO_STATE=1 ;;
  -h | --help)
    usage
    exit 0
    ;;
  --vm | --ova | --new-name | --properties | --functions | --ssh-user | --ssh-key | --old-host | --new-host | --ready-url | --timeout)
    if (($# < 2)) || [[ -z $2 ]]; then die "$1 needs a value (see --help)"; fi
    case $1 in
    --vm) OLD_NAME=$2 ;;
    --ova) OVA=$2 ;;
    --new-name) NEW_NAME=$2 ;;
    --properties) PROPS_FILE=$2 ;;
    --functions) FUNCTIONS=$2 ;;
    --ssh-user) SSH_USER=$2 ;;
    --ssh-key) SSH_KEY=$2 ;;
    --old-host) OLD_HOST=$2 ;;
    --new-host) NEW_HOST=$2 ;;
    --ready-url) READY_URL=$2 ;;
    --timeout) TIMEOUT=$2 ;;
    esac
    shift
    ;;
  *) die "unknown argument $1 (see --help)" ;;
  esac
  shift
done

[[ -n $OLD_NAME ]] || die "--vm NAME is required: the running appliance's VM (see --help)"
[[ $TIMEOUT =~ ^[1-9][0-9]*$ ]] || die "--timeout takes whole seconds, got $TIMEOUT"
if ((ROLLBACK)); then
  [[ -z $OVA ]] || die "--rollback takes no --ova: it goes back to the VM the upgrade replaced"
else
  [[ -n $OVA ]] || die "--ova FILE is required: the new appliance's OVA (see --help)"
  [[ -f $OVA && -r $OVA ]] || die "no OVA at $OVA: give the path of the downloaded .ova file"
fi
[[ -z $SSH_KEY || -r $SSH_KEY ]] || die "cannot read the SSH key $SSH_KEY"
[[ -z $FUNCTIONS || -e $FUNCTIONS ]] || die "--functions: no file or folder at $FUNCTIONS"
NEW_NAME=${NEW_NAME:-$OLD_NAME-upgrade}
PREV_NAME=$OLD_NAME-previous
[[ $NEW_NAME != "$OLD_NAME" && $NEW_NAME != "$PREV_NAME" ]] ||
  die "--new-name must differ from $OLD_NAME and $PREV_NAME (the names the old VM has during and after the upgrade)"

GOVC=${GOVC:-govc}
SSH_CMD=${SSH:-ssh}
POLL=${UPGRADE_POLL_SECONDS:-5}
SHUTDOWN_SECONDS=${UPGRADE_SHUTDOWN_SECONDS:-300}
for tool in "$GOVC" jq curl tar; do
  command -v "$tool" >/dev/null || die "$tool is not installed (this script needs govc, jq, curl and tar)"
done

WORK=$(mktemp -d)
chmod 700 "$WORK"
# preflight (reading and checking: nothing changes), apply (each change can be undone), rollback
PHASE=preflight
trap on_exit EXIT
trap 'echo "error: interrupted" >&2; exit 130' INT TERM

# ---------------------------------------------------------------------------------------------
# vSphere

# The inventory path of the one VM called $1 (empty when there is none; refuses two).
find_vm() {
  local found
  found=$("$GOVC" find -type m -name "$1") || die "govc cannot search the inventory: check GOVC_URL and the credentials"
  if (($(grep -c . <<<"$found") > 1)); then
    die "more than one VM is named $1: $(tr '\n' ' ' <<<"$found")(rename the one that is not the appliance)"
  fi
  printf '%s' "$found"
}
moref() { "$GOVC" ls -i "$1"; }
vm_path() { "$GOVC" ls -L "$1"; }
power_state() { "$GOVC" object.collect -s "$(vm_path "$1")" runtime.powerState; }
is_off() { [[ $(power_state "$1") == poweredOff ]]; }
# Runs govc quietly; on failure prints its output.
g() {
  local out
  out=$("$GOVC" "$@" 2>&1) || {
    printf '%s\n' "$out" >&2
    return 1
  }
}
power_on() {
  [[ $(power_state "$1") == poweredOn ]] || g vm.power -on "$(vm_path "$1")"
}
# A guest shutdown (the appliance runs VMware Tools), a hard power-off when that is not possible
# or takes longer than UPGRADE_SHUTDOWN_SECONDS.
power_off() {
  local ref=$1 path
  is_off "$ref" && return 0
  path=$(vm_path "$ref")
  if ! g vm.power -s "$path"; then
    say "    no guest shutdown (VMware Tools not running): powering off"
    g vm.power -off "$path"
  fi
  if ! poll "$SHUTDOWN_SECONDS" is_off "$ref"; then
    say "    still on after ${SHUTDOWN_SECONDS} s: powering off"
    g vm.power -off "$path"
  fi
}

# poll SECONDS COMMAND...: runs COMMAND every UPGRADE_POLL_SECONDS until it succeeds.
poll() {
  local limit=$1 start=$SECONDS
  shift
  until "$@"; do
    ((SECONDS - start < limit)) || return 1
    sleep "$POLL"
  done
}

# ---------------------------------------------------------------------------------------------
# SSH

# remote old|new COMMAND [STDIN]: COMMAND as SSH_USER on that appliance.
remote() {
  local host opts=(-o ConnectTimeout=10 -o ServerAliveInterval=15 -o StrictHostKeyChecking=accept-new)
  if [[ $1 == new ]]; then
    host=$NEW_HOST
    # A fresh VM has a fresh host key, possibly at the old one's address.
    opts+=(-o "UserKnownHostsFile=$WORK/known_hosts")
  else
    host=$OLD_HOST
  fi
  [[ -n $SSH_KEY ]] && opts+=(-i "$SSH_KEY")
  if [[ -n ${SSH:-} ]]; then
    "$SSH_CMD" "${opts[@]}" "$SSH_USER@$host" "$2" <"${3:-/dev/null}"
  else
    sshpass -e "$SSH_CMD" "${opts[@]}" "$SSH_USER@$host" "$2" <"${3:-/dev/null}"
  fi
}
# How a remote command reads in the plan.
shown_ssh() {
  local host=$OLD_HOST pass=""
  [[ $1 == new ]] && host=${NEW_HOST:-<new VM address>}
  [[ -n ${SSH:-} ]] || pass="sshpass -e "
  printf "%sssh %s@%s '%s'" "$pass" "$SSH_USER" "$host" "$2"
}
ssh_ok() { remote "$1" true >/dev/null 2>&1; }
router_gone() {
  local out
  out=$(remote "$1" "$R_PODS" 2>/dev/null) && [[ -z $out ]]
}
# firstboot_done old|new LINE: a run other than the one whose first line was LINE has ended
# (FIRSTBOOT_FAILED=1 when it did not end well); FIRSTBOOT_OUT keeps the last report.
firstboot_done() {
  local rc=0 first
  FIRSTBOOT_OUT=$(remote "$1" "$R_STATUS" 2>&1) || rc=$?
  first=${FIRSTBOOT_OUT%%$'\n'*}
  [[ $first == "last run: "* && $first != "$2" ]] || return 1
  if [[ $first =~ ,\ (failed|invalid|refused) ]]; then
    FIRSTBOOT_FAILED=1
    return 0
  fi
  ((rc == 0))
}
FIRSTBOOT_FAILED=0
FIRSTBOOT_OUT=""
# wait_firstboot old|new LINE: after a (re)boot, until firstboot's run has ended well.
wait_firstboot() {
  FIRSTBOOT_FAILED=0
  poll "$TIMEOUT" firstboot_done "$1" "$2" || fail "firstboot on the $1 VM did not finish within $TIMEOUT s; its last report:
$FIRSTBOOT_OUT"
  ((FIRSTBOOT_FAILED == 0)) || fail "firstboot on the $1 VM failed:
$FIRSTBOOT_OUT"
}
status_line() {
  local out
  out=$(remote "$1" "$R_STATUS" 2>/dev/null) || true
  printf '%s' "${out%%$'\n'*}"
}
scale_router() { remote "$1" "$R_SCALE$2" >/dev/null; }

# ---------------------------------------------------------------------------------------------
# Readiness: /readyz needs no credentials; Contour serves it on the Hostname, so the request
# names the Hostname and connects to the VM's address. -k: the certificate is usually the
# appliance's self-signed one, and /readyz carries nothing secret.
ready_cmd() {
  if [[ -n $READY_URL ]]; then
    READY=(curl -fsS -k --max-time 10 -o /dev/null "$READY_URL")
  else
    READY=(curl -fsS -k --max-time 10 -o /dev/null --connect-to "$FQDN:443:$1:443" "https://$FQDN/readyz")
  fi
}
is_ready() { "${READY[@]}" 2>/dev/null; }

# ---------------------------------------------------------------------------------------------
# Steps, undo and failure

STEP=0
step() {
  STEP=$((STEP + 1))
  say ""
  say "$STEP. $*"
}
cmd() { say "     \$ $*"; }

UNDO=() UNDO_WHAT=() UNDO_HAND=() LEFT=()
# undo_push WHAT BY_HAND FUNCTION [ARGS...]: how to take back the step just done.
undo_push() {
  UNDO_WHAT+=("$1")
  UNDO_HAND+=("$2")
  shift 2
  UNDO+=("$(printf '%q ' "$@")")
}
commit() { UNDO=() UNDO_WHAT=() UNDO_HAND=(); }
fail() {
  echo "error: $*" >&2
  exit 1
}
# On a failure while applying (a step's error, an unexpected one, an interrupt): undo what was
# done, last first, and say what is left.
on_exit() {
  local rc=$? i
  trap - INT TERM
  if ((rc != 0)) && [[ $PHASE == apply ]]; then
    ((rc == 2)) && rc=1
    if ((${#UNDO[@]})); then
      echo "undoing what was done, last first:" >&2
      for ((i = ${#UNDO[@]} - 1; i >= 0; i--)); do
        echo "  - ${UNDO_WHAT[i]}" >&2
        if ! eval "${UNDO[i]}" >&2; then
          LEFT+=("${UNDO_WHAT[i]} FAILED: do it by hand: ${UNDO_HAND[i]}")
        fi
      done
    fi
    if ((${#LEFT[@]})); then
      echo "left:" >&2
      printf '  - %s\n' "${LEFT[@]}" >&2
    else
      echo "nothing is left changed" >&2
    fi
  fi
  rm -rf "$WORK"
  exit "$rc"
}

# ---------------------------------------------------------------------------------------------
# Reading a VM and the OVA

# vm_json PATH: govc vm.info -json's VM object.
vm_json() { "$GOVC" vm.info -json "$1" | jq '.VirtualMachines[0]'; }

# old_properties VM_JSON: {key: {value, password}} from config.vAppConfig.property, where
# vCenter keeps them; from ExtraConfig's guestinfo.<key> where vcsim 0.24.2 keeps them instead.
old_properties() {
  jq '
    (.Config.VAppConfig.Property // []) as $vapp
    | if ($vapp | length) > 0 then
        [$vapp[] | {key: .Id, value: {value: (.Value // ""), password: ((.Type // "") | startswith("password"))}}]
      else
        [.Config.ExtraConfig // [] | .[] | select(.Key | test("^guestinfo\\.[a-z0-9_]+$"))
         | {key: .Key, value: {value: (.Value // ""), password: false}}]
      end
    | from_entries' "$1"
}
props_source() {
  jq -r 'if ((.Config.VAppConfig.Property // []) | length) > 0 then "config.vAppConfig.property"
         else "ExtraConfig (vcsim keeps vApp property values there)" end' "$1"
}
# prop KEY: the value carried to the new VM.
prop() { jq -r --arg k "$1" '.[] | select(.key == $k) | .value' "$WORK/merged.json"; }
prop_old() { jq -r --arg k "$1" '.[$k].value // ""' "$WORK/old-props.json"; }
version_of() { sed -E 's/^Event Broker Appliance ([^:]*):.*/\1/;t;s/.*/unknown/' <<<"$1"; }
is_true() { [[ ${1,,} == true ]]; }

# Where a VM lives: datastore, pool, folder and network paths (vm.info -json object).
placement() {
  local ds pool folder net
  ds=$(jq -r '.Datastore[0] | "\(.Type):\(.Value)"' "$1")
  pool=$(jq -r '.ResourcePool | "\(.Type):\(.Value)"' "$1")
  folder=$(jq -r '.Parent | "\(.Type):\(.Value)"' "$1")
  net=$(jq -r '.Network[0] // empty | "\(.Type):\(.Value)"' "$1")
  DATASTORE=${GOVC_DATASTORE:-$(vm_path "$ds")}
  POOL=${GOVC_RESOURCE_POOL:-$(vm_path "$pool")}
  FOLDER=${GOVC_FOLDER:-$(vm_path "$folder")}
  if [[ -n ${NETWORK:-} ]]; then
    NET=$NETWORK
  elif [[ -n $net ]]; then
    NET=$(vm_path "$net")
    NET=${NET##*/}
  else
    NET="VM Network"
  fi
}

# The SSH password: SSHPASS, else the Root Password property; sshpass unless SSH is given.
ssh_auth() {
  if [[ -z ${SSHPASS:-} ]]; then
    SSHPASS=$1
  fi
  export SSHPASS
  if [[ -z ${SSH:-} ]]; then
    command -v sshpass >/dev/null ||
      die "sshpass is not installed: it logs in with the appliance's root password, the only login a freshly deployed appliance accepts (Debian/Ubuntu: apt-get install sshpass; or set SSH to an ssh command that logs in by itself)"
    [[ -n $SSHPASS ]] ||
      die "no root password for SSH: vCenter returned none; set SSHPASS, or give guestinfo.root_password in --properties FILE"
  fi
}

# check_ssh old|new HOW: refuses when the appliance cannot be reached or is not one.
check_ssh() {
  local out rc=0
  out=$(remote "$1" true 2>&1) || rc=$?
  if ((rc != 0)); then
    # sshpass's own exit codes
    case $rc in
    5) out="the password was refused" ;;
    6) out="the host key is unknown and was not accepted" ;;
    esac
    die "cannot log in to $SSH_USER@$2 over SSH (exit $rc: ${out##*$'\n'}). The upgrade carries the state over SSH: turn Enable SSH (guestinfo.enable_ssh) on in the VM's vApp options and power-cycle it, check SSHPASS or --ssh-key, give the address with --old-host, or upgrade without the state (--no-state, see the README)"
  fi
  remote "$1" "$R_CHECK" >/dev/null 2>&1 ||
    die "$2 answers SSH but is not an Event Broker Appliance (no /var/lib/event-router/checkpoints, kubectl or tar)"
}

# ---------------------------------------------------------------------------------------------
# Rollback

rollback_main() {
  local old_path prev_path new_path cur_new cur_old back_json back_ref new_ref completed=0
  old_path=$(find_vm "$OLD_NAME")
  prev_path=$(find_vm "$PREV_NAME")
  new_path=$(find_vm "$NEW_NAME")
  if [[ -n $prev_path ]]; then
    [[ -n $old_path ]] || die "$PREV_NAME exists but $OLD_NAME does not: rename $PREV_NAME back by hand (govc object.rename '$prev_path' '$OLD_NAME') and power it on"
    [[ -z $new_path ]] || die "both $PREV_NAME and $NEW_NAME exist: remove the one the upgrade did not leave (govc vm.destroy PATH) and run --rollback again"
    completed=1 cur_new=$old_path cur_old=$prev_path
  elif [[ -n $new_path ]]; then
    [[ -n $old_path ]] || die "no VM named $OLD_NAME to go back to"
    cur_new=$new_path cur_old=$old_path
  else
    die "nothing to roll back: there is no VM named $PREV_NAME (a finished upgrade) or $NEW_NAME (an unfinished one)"
  fi
  new_ref=$(moref "$cur_new")
  back_ref=$(moref "$cur_old")
  back_json=$WORK/old.json
  vm_json "$cur_old" >"$back_json"
  old_properties "$back_json" >"$WORK/old-props.json"
  FQDN=$(prop_old guestinfo.hostname)
  local ip
  ip=$(prop_old guestinfo.ipaddress)
  OLD_HOST=${OLD_HOST:-$ip}
  ((NO_STATE)) || ssh_auth "$(prop_old guestinfo.root_password)"

  say "rollback plan$( ((APPLY)) || echo ' (dry run: nothing is changed; --apply does it)')"
  say "  the upgraded VM:  $cur_new ($(power_state "$new_ref"))"
  say "  back to:          $cur_old ($(power_state "$back_ref")), $(jq -r '.Config.Annotation // ""' "$back_json" | sed -E 's/:.*//')"

  step "power the upgraded VM off ($cur_new)"
  cmd "govc vm.power -s '$cur_new'   # then -off if it is still on after ${SHUTDOWN_SECONDS} s"
  if ((APPLY)); then power_off "$new_ref" || fail_rb "cannot power $cur_new off"; fi
  if ((completed)); then
    step "give the names back: $OLD_NAME -> $NEW_NAME, $PREV_NAME -> $OLD_NAME"
    cmd "govc object.rename '$cur_new' '$NEW_NAME'"
    cmd "govc object.rename '$cur_old' '$OLD_NAME'"
    if ((APPLY)); then
      g object.rename "$cur_new" "$NEW_NAME" || fail_rb "cannot rename $cur_new to $NEW_NAME"
      g object.rename "$(vm_path "$back_ref")" "$OLD_NAME" || fail_rb "cannot rename $cur_old to $OLD_NAME (the upgraded VM is already $NEW_NAME)"
    fi
  fi
  step "power the old VM on"
  cmd "govc vm.power -on '$(dirname "$cur_old")/$OLD_NAME'"
  if ((APPLY)); then power_on "$back_ref" || fail_rb "cannot power the old VM on"; fi
  local sources=0
  if [[ -n $(prop_old guestinfo.vcenter_server) ]] || is_true "$(prop_old guestinfo.horizon)" || is_true "$(prop_old guestinfo.webhook)"; then
    sources=1
  fi
  if ((!sources)); then
    say "     (no vCenter Server, Horizon or Webhook property: it has no router)"
  elif ((NO_STATE)); then
    say "     (--no-state: its router was not stopped by the upgrade)"
  else
    step "scale its router back up once it answers (kubectl over SSH)"
    cmd "$(shown_ssh old "$R_SCALE"1)"
    if ((APPLY)); then
      if [[ -z $OLD_HOST ]]; then
        OLD_HOST=$("$GOVC" vm.ip -v4 -wait "${TIMEOUT}s" "$(vm_path "$back_ref")" | head -n1)
        [[ -n $OLD_HOST ]] || fail_rb "the old VM reported no address within $TIMEOUT s: give it with --old-host, then run --rollback --apply again"
      fi
      poll "$TIMEOUT" scale_router old 1 || fail_rb "could not scale the router up on $OLD_HOST within $TIMEOUT s: log in and run: kubectl -n vmware-system scale deploy/event-router --replicas=1"
    fi
  fi
  step "wait until its router is ready"
  ready_cmd "${OLD_HOST:-<its address>}"
  cmd "${READY[*]}"
  if ((APPLY && sources)); then
    poll "$TIMEOUT" is_ready || fail_rb "the old router is not ready after $TIMEOUT s (${READY[*]}); look at kubectl -n vmware-system logs deploy/event-router on it"
  fi
  say ""
  if ((APPLY)); then
    say "rolled back: $OLD_NAME runs again and resumes from its own checkpoint (events the new appliance delivered since are delivered again: at least once)."
    say "The upgraded VM is powered off as $NEW_NAME; dead letters it wrote stay in $CHECKPOINTS on it. Remove it when you no longer need it: govc vm.destroy '$(vm_path "$new_ref")'"
  else
    say "dry run: nothing was changed; run again with --apply to roll back"
  fi
}
fail_rb() {
  echo "error: $*" >&2
  echo "the rollback stopped at step $STEP; the steps before it are done, run --rollback --apply again after the fix" >&2
  exit 1
}

# ---------------------------------------------------------------------------------------------
# Upgrade

if ((ROLLBACK)); then
  ((APPLY)) && PHASE=rollback
  rollback_main
  exit 0
fi

# Preflight: read and check everything; change nothing.
OLD_PATH=$(find_vm "$OLD_NAME")
[[ -n $OLD_PATH ]] || die "no VM named $OLD_NAME (govc find -type m -name '$OLD_NAME' finds none; check the name with govc ls, and GOVC_DATACENTER)"
for name in "$NEW_NAME" "$PREV_NAME"; do
  ((KEEP_NAMES)) && [[ $name == "$PREV_NAME" ]] && continue
  taken=$(find_vm "$name")
  [[ -z $taken ]] || die "a VM named $name exists ($taken), a name the upgrade needs: if an earlier upgrade left it, finish or undo that first (--rollback), else rename it or remove it (govc vm.destroy '$taken'), or choose another name with --new-name"
done
OLD_REF=$(moref "$OLD_PATH")
vm_json "$OLD_PATH" >"$WORK/old.json"
OLD_POWER=$(jq -r '.Runtime.PowerState' "$WORK/old.json")
[[ $OLD_POWER == poweredOn ]] || ((NO_STATE)) ||
  die "$OLD_NAME is $OLD_POWER: power it on (the upgrade reads its state over SSH), or upgrade without the state (--no-state)"
old_properties "$WORK/old.json" >"$WORK/old-props.json"
[[ $(jq 'has("guestinfo.hostname")' "$WORK/old-props.json") == true ]] ||
  die "$OLD_NAME has no guestinfo.hostname property: it is not an Event Broker Appliance deployed from its OVA"

spec_out=$("$GOVC" import.spec -verbose "$OVA" 2>&1) || die "govc cannot read the OVA $OVA: $spec_out"
printf '%s' "$spec_out" >"$WORK/spec.json"
jq -e '.PropertyMapping | length > 0' "$WORK/spec.json" >/dev/null 2>&1 ||
  die "$OVA has no vApp properties: it is not an Event Broker Appliance OVA"

# Values given on the command line's properties file.
printf '{}' >"$WORK/given.json"
if [[ -n $PROPS_FILE ]]; then
  read_properties "$PROPS_FILE"
  for i in "${!PROP_KEYS[@]}"; do
    jq -e --arg k "${PROP_KEYS[$i]}" 'any(.PropertyMapping[]; .Key == $k)' "$WORK/spec.json" >/dev/null ||
      die "$PROPS_FILE sets ${PROP_KEYS[$i]}, which the new OVA does not have (check the spelling against scripts/appliance.properties.example)"
    jq --arg k "${PROP_KEYS[$i]}" --arg v "${PROP_VALUES[$i]}" '. + {($k): $v}' "$WORK/given.json" >"$WORK/given.new"
    mv "$WORK/given.new" "$WORK/given.json"
  done
fi

# Every property of the new OVA: the given value, else the old VM's non-empty one, else the new
# OVA's default (an empty value always meant the default).
jq -n --slurpfile spec "$WORK/spec.json" --slurpfile old "$WORK/old-props.json" --slurpfile given "$WORK/given.json" '
  [$spec[0].PropertyMapping[] | .Key as $k | ($old[0][$k].value // "") as $was | {
    key: $k,
    label: (.Spec.Label // $k),
    password: ((.Spec.Password // false) or ($old[0][$k].password // false)),
    required: ((.Spec.Qualifiers // "") | test("MinLen\\([1-9]")),
    from: (if $given[0] | has($k) then "given" elif $was != "" then "old"
           elif $old[0] | has($k) then "default" else "new" end),
    value: (if $given[0] | has($k) then $given[0][$k] elif $was != "" then $was else (.Value // "") end)
  }]' >"$WORK/merged.json"
chmod 600 "$WORK/merged.json" "$WORK/old-props.json" "$WORK/old.json" "$WORK/given.json"
mapfile -t DROPPED < <(jq -r --slurpfile spec "$WORK/spec.json" \
  'keys[] as $k | select(($spec[0].PropertyMapping | map(.Key) | index($k)) == null) | $k' "$WORK/old-props.json")
mapfile -t MISSING < <(jq -r '.[] | select(.required and .value == "") | "\(.label) (\(.key))"' "$WORK/merged.json")
((${#MISSING[@]} == 0)) ||
  die "required properties have no value on $OLD_NAME: ${MISSING[*]}. vCenter does not return password values to every client: give them, and every other password the old VM had set, in --properties FILE (guestinfo.<key>=<value> lines, as in scripts/appliance.properties.example)"

FQDN=$(prop guestinfo.hostname)
IP=$(prop guestinfo.ipaddress)
SAME_ADDRESS=0
[[ -n $IP ]] && SAME_ADDRESS=1
OLD_HOST=${OLD_HOST:-${IP:-$(jq -r '.Guest.IpAddress // ""' "$WORK/old.json")}}
((SAME_ADDRESS)) && NEW_HOST=${NEW_HOST:-$IP}
placement "$WORK/old.json"
OLD_VERSION=$(version_of "$(jq -r '.Config.Annotation // ""' "$WORK/old.json")")
NEW_VERSION=$(version_of "$(jq -r '.Annotation // ""' "$WORK/spec.json")")

HAS_ROUTER=0 CARRY=() FUNCTIONS_OLD=""
if ((!NO_STATE)); then
  is_true "$(prop guestinfo.enable_ssh)" ||
    die "Enable SSH (guestinfo.enable_ssh) is off on $OLD_NAME: the upgrade carries the state over SSH. Turn it on in the VM's vApp options and power-cycle it (turn it off again on the new VM afterwards), or upgrade without the state (--no-state, see the README)"
  [[ -n $OLD_HOST ]] ||
    die "cannot tell $OLD_NAME's address: it has no IP Address property and VMware Tools reports none; give it with --old-host"
  ssh_auth "$(prop guestinfo.root_password)"
  check_ssh old "$OLD_HOST"
  remote old "$R_ROUTER" >/dev/null 2>&1 && HAS_ROUTER=1
  mapfile -t CARRY < <(remote old "$R_STATE")
  # A custom certificate comes with the properties; only the self-signed one is carried.
  if [[ -n $(prop guestinfo.custom_tls_ca_cert) ]]; then
    mapfile -t CARRY < <(printf '%s\n' "${CARRY[@]}" | grep -v '^etc/event-router/tls$')
  fi
  FUNCTIONS_OLD=$(remote old "$R_FUNCTIONS" 2>/dev/null | paste -sd ' ') || FUNCTIONS_OLD=""
  CHECKPOINT_FILES=$(remote old "$R_LS_CHECKPOINTS" 2>/dev/null | paste -sd ' ') || CHECKPOINT_FILES=""
fi
# Without an event source firstboot deploys no router, and there is no readiness to wait for.
HAS_SOURCES=0
if [[ -n $(prop guestinfo.vcenter_server) ]] || is_true "$(prop guestinfo.horizon)" || is_true "$(prop guestinfo.webhook)"; then
  HAS_SOURCES=1
fi
# The new VM needs firstboot to render the carried password and certificate: a power cycle.
RECYCLE=0
for c in "${CARRY[@]}"; do
  [[ $c == etc/* ]] && RECYCLE=1
done

# ---------------------------------------------------------------------------------------------
# The plan

say "upgrade plan$( ((APPLY)) || echo ' (dry run: nothing is changed; --apply does it)')"
say "  old VM:    $OLD_PATH ($OLD_POWER), version $OLD_VERSION"
say "  new OVA:   $OVA, version $NEW_VERSION"
say "  new VM:    $NEW_NAME in $FOLDER, datastore $DATASTORE, pool $POOL, network $NET"
if ((SAME_ADDRESS)); then
  say "  address:   static $IP: the new VM takes it over, so the old one is powered off before the new one boots (and back on if the new one does not get ready)"
else
  say "  address:   DHCP: the new VM gets its own; both run until the new router is ready (point DNS for $FQDN at the new address afterwards)"
fi
say "  properties from the old VM's $(props_source "$WORK/old.json"):"
while IFS=$'\t' read -r key from password value; do
  if [[ $password == true ]] || is_secret "$key"; then
    [[ -n $value ]] && value='<set>' || value='<empty>'
  fi
  case $from in
  old) say "    $key = $value" ;;
  given) say "    $key = $value   (from $PROPS_FILE)" ;;
  new) say "    $key = $value   (new in this OVA: its default)" ;;
  esac
done < <(jq -r '.[] | select(.from != "default") | [.key, .from, (.password | tostring), .value] | @tsv' "$WORK/merged.json")
say "    (and $(jq '[.[] | select(.from == "default")] | length' "$WORK/merged.json") empty on the old VM: the new OVA's defaults)"
for key in "${DROPPED[@]}"; do
  say "    not carried: $key (the new OVA has no such property)"
done
EMPTY_SECRETS=$(jq -r '[.[] | select(.password and .value == "" and .from != "new") | .key] | join(", ")' "$WORK/merged.json")
[[ -z $EMPTY_SECRETS ]] ||
  say "    empty passwords: $EMPTY_SECRETS (if one was set on the old VM and vCenter did not return it, give it in --properties FILE)"
if ((NO_STATE)); then
  say "  state:     none (--no-state): the new router starts at vCenter's current time; the old VM's dead letters stay on it; $([[ -n $(prop guestinfo.endpoint_password) ]] && echo "the Endpoint Password property carries over" || echo "a new Endpoint Password is generated (on the VM console's banner)")"
  ((SAME_ADDRESS)) && warn "--no-state with a static address: events vCenter records between the old VM's power-off and the new router's start are not delivered"
else
  say "  state:     over SSH from $SSH_USER@$OLD_HOST to the new VM: ${CARRY[*]/#//}"
  say "             checkpoint folder: ${CHECKPOINT_FILES:-empty}"
  say "             the router is down from step \"stop the old router\" until the new one resumes; events of that time are replayed if it is shorter than the Checkpoint Maximum Age ($(prop guestinfo.vcenter_checkpoint_age) s)"
  if [[ -n $FUNCTIONS_OLD && -z $FUNCTIONS ]]; then
    warn "the old appliance runs $FUNCTIONS_OLD: they are not carried. Give their manifests with --functions PATH so they are in place before the router resumes; else the events replayed before you deploy them reach no Trigger"
  fi
fi

# ---------------------------------------------------------------------------------------------
# The steps

deploy_new() {
  step "deploy $NEW_NAME from the new OVA with these properties, powered off"
  cmd "govc import.ova -options=<options file: the properties above> -name='$NEW_NAME' -ds='$DATASTORE' -pool='$POOL' -folder='$FOLDER' '$OVA'"
  ((APPLY)) || return 0
  (umask 077 && jq --slurpfile m "$WORK/merged.json" --arg name "$NEW_NAME" --arg net "$NET" '
    ($m[0] | map({(.key): .value}) | add) as $v
    | .Name = $name | .PowerOn = false | .DiskProvisioning = "thin"
    | .PropertyMapping |= map({Key: .Key, Value: ($v[.Key] // .Value)})
    | .NetworkMapping |= map(.Network = $net)' "$WORK/spec.json" >"$WORK/options.json")
  g import.ova -options="$WORK/options.json" -name="$NEW_NAME" -ds="$DATASTORE" -pool="$POOL" -folder="$FOLDER" "$OVA" ||
    fail "govc import.ova failed (output above)"
  NEW_PATH=$(find_vm "$NEW_NAME")
  [[ -n $NEW_PATH ]] || fail "govc import.ova succeeded but there is no VM named $NEW_NAME"
  NEW_REF=$(moref "$NEW_PATH")
  undo_push "remove the new VM $NEW_NAME (or keep it, powered off, once it has booted)" "govc vm.destroy '$NEW_PATH'" undo_deploy
  say "     deployed $NEW_PATH"
}
NEW_BOOTED=0
undo_deploy() {
  if ((NEW_BOOTED)); then
    LEFT+=("the new VM $NEW_NAME, powered off, for a look at what went wrong (its console shows firstboot's report); remove it: govc vm.destroy '$(vm_path "$NEW_REF")'")
  else
    g vm.destroy "$(vm_path "$NEW_REF")"
  fi
}

hardware() {
  local cpu mem ncpu nmem
  cpu=$(jq -r '.Config.Hardware.NumCPU' "$WORK/old.json")
  mem=$(jq -r '.Config.Hardware.MemoryMB' "$WORK/old.json")
  ((APPLY)) || {
    step "give the new VM the old one's vCPUs ($cpu) and memory ($mem MB) where they are more than the OVA's"
    return 0
  }
  vm_json "$NEW_PATH" >"$WORK/new.json"
  ncpu=$(jq -r '.Config.Hardware.NumCPU' "$WORK/new.json")
  nmem=$(jq -r '.Config.Hardware.MemoryMB' "$WORK/new.json")
  ((cpu > ncpu || mem > nmem)) || return 0
  ((cpu > ncpu)) || cpu=$ncpu
  ((mem > nmem)) || mem=$nmem
  step "give the new VM the old one's resources: $cpu vCPUs, $mem MB (the OVA has $ncpu, $nmem MB)"
  cmd "govc vm.change -vm '$NEW_PATH' -c $cpu -m $mem"
  g vm.change -vm "$NEW_PATH" -c "$cpu" -m "$mem" || fail "cannot resize $NEW_NAME"
}

stop_old_router() {
  ((HAS_ROUTER)) || return 0
  step "stop the old router so its checkpoints are final"
  cmd "$(shown_ssh old "$R_SCALE"0)"
  cmd "$(shown_ssh old "$R_PODS")   # until no pod is left"
  ((APPLY)) || return 0
  scale_router old 0 || fail "cannot scale the router down on $OLD_HOST"
  undo_push "scale the old router back up" "ssh $SSH_USER@$OLD_HOST '${R_SCALE}1'" poll "$TIMEOUT" scale_router old 1
  poll "$TIMEOUT" router_gone old || fail "the old router's pod is still there after $TIMEOUT s"
}

fetch_state() {
  step "copy the state from the old VM: ${CARRY[*]/#//}"
  cmd "$(shown_ssh old "tar -C / --numeric-owner -cf - ${CARRY[*]}") > <private temporary folder>/state.tar"
  ((APPLY)) || return 0
  ((${#CARRY[@]})) || fail "the old VM has nothing to carry (no $CHECKPOINTS)"
  (umask 077 && remote old "tar -C / --numeric-owner -cf - ${CARRY[*]}" >"$WORK/state.tar") ||
    fail "cannot copy the state from $OLD_HOST"
  tar -tf "$WORK/state.tar" >"$WORK/state.list" || fail "the state copied from $OLD_HOST is not a tar archive"
  say "     $(grep -c . "$WORK/state.list") entries, $(wc -c <"$WORK/state.tar") bytes"
}

power_off_old() {
  step "power the old VM off ($1)"
  cmd "govc vm.power -s '$OLD_PATH'   # a guest shutdown, then -off if it is still on after ${SHUTDOWN_SECONDS} s"
  ((APPLY)) || return 0
  power_off "$OLD_REF" || fail "cannot power $OLD_NAME off"
  undo_push "power the old VM back on" "govc vm.power -on '$OLD_PATH'" undo_power_on_old
}
undo_power_on_old() {
  power_on "$OLD_REF" && poll "$TIMEOUT" ssh_ok old
}

power_on_new() {
  local before=""
  step "power the new VM on and wait for its first boot"
  cmd "govc vm.power -on '$NEW_NAME'"
  ((SAME_ADDRESS)) || [[ -n $NEW_HOST ]] || cmd "govc vm.ip -v4 -wait ${TIMEOUT}s '$NEW_NAME'   # its address, as VMware Tools reports it"
  ((NO_STATE)) || cmd "$(shown_ssh new "$R_STATUS")   # until its first run has ended well"
  ((APPLY)) || return 0
  power_on "$NEW_REF" || fail "cannot power $NEW_NAME on"
  NEW_BOOTED=1
  undo_push "power the new VM off" "govc vm.power -off '$(vm_path "$NEW_REF")'" power_off "$NEW_REF"
  if [[ -z $NEW_HOST ]]; then
    NEW_HOST=$("$GOVC" vm.ip -v4 -wait "${TIMEOUT}s" "$(vm_path "$NEW_REF")" | head -n1) || true
    [[ -n $NEW_HOST ]] || fail "$NEW_NAME reported no IPv4 address within $TIMEOUT s (VMware Tools): give it with --new-host"
    say "     its address: $NEW_HOST"
  fi
  ((NO_STATE)) && return 0
  poll "$TIMEOUT" ssh_ok new || fail "no SSH login on the new VM ($SSH_USER@$NEW_HOST) within $TIMEOUT s"
  wait_firstboot new "$before"
}

stop_new_router() {
  ((HAS_ROUTER)) || return 0
  step "stop the new router until the state is in place"
  cmd "$(shown_ssh new "$R_SCALE"0)"
  ((APPLY)) || return 0
  scale_router new 0 || fail "cannot scale the router down on $NEW_HOST"
  poll "$TIMEOUT" router_gone new || fail "the new router's pod is still there after $TIMEOUT s"
}

push_state() {
  local aside stamp
  stamp=$(date -u +%Y%m%dT%H%M%SZ)
  aside="$CHECKPOINTS.first-boot-$stamp"
  step "put the state in place on the new VM"
  cmd "$(shown_ssh new "test ! -e $CHECKPOINTS || mv $CHECKPOINTS $aside")   # what its own first boot wrote"
  cmd "$(shown_ssh new "$R_EXTRACT") < state.tar"
  cmd "$(shown_ssh new "$R_CHOWN")"
  if ((APPLY)); then
    remote new "test ! -e $CHECKPOINTS || mv $CHECKPOINTS $aside" >/dev/null || fail "cannot move the new VM's own checkpoints aside"
    remote new "$R_EXTRACT" "$WORK/state.tar" >/dev/null || fail "cannot unpack the state on $NEW_HOST"
    remote new "$R_CHOWN" >/dev/null || fail "cannot give the checkpoints to the router's user on $NEW_HOST"
  fi
  if [[ -n $FUNCTIONS ]]; then
    local files=()
    if [[ -d $FUNCTIONS ]]; then
      [[ ! -e $FUNCTIONS/kustomization.yaml ]] ||
        fail "$FUNCTIONS is a kustomize folder: give its output instead (kubectl kustomize $FUNCTIONS > functions.yaml)"
      mapfile -t files < <(find "$FUNCTIONS" -maxdepth 1 -type f \( -name '*.yaml' -o -name '*.yml' \) | sort)
    else
      files=("$FUNCTIONS")
    fi
    say "     functions: ${files[*]}"
    cmd "$(shown_ssh new "$R_APPLY") < the files above"
    cmd "$(shown_ssh new "$(R_WAIT_FUNCTIONS "$TIMEOUT")")"
    if ((APPLY)); then
      local f
      : >"$WORK/functions.yaml"
      for f in "${files[@]}"; do
        {
          echo "---"
          cat "$f"
          echo
        } >>"$WORK/functions.yaml"
      done
      remote new "$R_APPLY" "$WORK/functions.yaml" | sed 's/^/     /' || fail "kubectl apply of $FUNCTIONS failed on the new VM"
      remote new "$(R_WAIT_FUNCTIONS "$TIMEOUT")" | sed 's/^/     /' || fail "the functions did not become ready on the new VM within $TIMEOUT s"
    fi
  fi
  if ((HAS_ROUTER)); then
    say "     the router resumes from the carried checkpoint"
    cmd "$(shown_ssh new "$R_SCALE"1)"
    if ((APPLY)); then scale_router new 1 || fail "cannot scale the router up on $NEW_HOST"; fi
  fi
}

recycle_new() {
  ((RECYCLE)) || return 0
  local before=""
  step "power-cycle the new VM: firstboot renders the carried Endpoint Password and certificate"
  cmd "govc vm.power -s '$NEW_NAME'; govc vm.power -on '$NEW_NAME'"
  cmd "$(shown_ssh new "$R_STATUS")   # until a new run has ended well"
  ((APPLY)) || return 0
  before=$(status_line new)
  power_off "$NEW_REF" || fail "cannot power $NEW_NAME off"
  power_on "$NEW_REF" || fail "cannot power $NEW_NAME on"
  poll "$TIMEOUT" ssh_ok new || fail "no SSH login on the new VM after its power cycle within $TIMEOUT s"
  wait_firstboot new "$before"
}

wait_ready() {
  if ((!HAS_SOURCES)); then
    step "no router to wait for (no vCenter Server, Horizon or Webhook property)"
    return 0
  fi
  step "wait until the new router is ready"
  ready_cmd "${NEW_HOST:-<new VM address>}"
  cmd "${READY[*]}"
  ((APPLY)) || return 0
  poll "$TIMEOUT" is_ready || fail "the new router is not ready after $TIMEOUT s (${READY[*]}); look at firstboot status and kubectl -n vmware-system logs deploy/event-router on $NEW_HOST"
  say "     ready"
}

rename() {
  ((KEEP_NAMES)) && return 0
  step "rename: $OLD_NAME -> $PREV_NAME, $NEW_NAME -> $OLD_NAME"
  cmd "govc object.rename '$OLD_PATH' '$PREV_NAME'"
  cmd "govc object.rename '$NEW_PATH' '$OLD_NAME'"
  ((APPLY)) || return 0
  if ! g object.rename "$(vm_path "$OLD_REF")" "$PREV_NAME"; then
    LEFT+=("the names: rename by hand: govc object.rename '$(vm_path "$OLD_REF")' '$PREV_NAME' && govc object.rename '$(vm_path "$NEW_REF")' '$OLD_NAME'")
    return 0
  fi
  g object.rename "$(vm_path "$NEW_REF")" "$OLD_NAME" ||
    LEFT+=("the new VM's name: rename by hand: govc object.rename '$(vm_path "$NEW_REF")' '$OLD_NAME'")
}

NEW_PATH=$NEW_NAME
((APPLY)) && PHASE=apply
deploy_new
hardware
if ((SAME_ADDRESS)); then
  if ((!NO_STATE)); then
    stop_old_router
    fetch_state
  fi
  power_off_old "before the new one boots: they share $IP"
  power_on_new
  if ((!NO_STATE)); then
    stop_new_router
    push_state
  fi
else
  power_on_new
  if ((!NO_STATE)); then
    stop_new_router
    stop_old_router
    fetch_state
    push_state
  fi
fi
((NO_STATE)) || recycle_new
wait_ready
# From here on the new appliance serves: nothing is undone any more.
commit
if ((!SAME_ADDRESS)); then
  step "power the old VM off (the new router is ready)"
  cmd "govc vm.power -s '$OLD_PATH'"
  if ((APPLY)) && ! power_off "$OLD_REF"; then
    LEFT+=("the old VM is still on (its router stopped): power it off: govc vm.power -s '$(vm_path "$OLD_REF")'")
  fi
fi
rename

say ""
if ((!APPLY)); then
  say "dry run: nothing was changed; run again with --apply to upgrade"
  exit 0
fi
final=$OLD_NAME
((KEEP_NAMES)) && final=$NEW_NAME
say "upgraded: $final runs version $NEW_VERSION at ${NEW_HOST:-its address}; the old VM is powered off as $( ((KEEP_NAMES)) && echo "$OLD_NAME" || echo "$PREV_NAME")."
((SAME_ADDRESS)) || say "Point DNS for $FQDN at $NEW_HOST."
((SAME_ADDRESS)) && ((!NO_STATE)) && say "The address has a new SSH host key: ssh-keygen -R $NEW_HOST before logging in again."
say "Keep the old VM until you are satisfied; roll back with: scripts/upgrade.sh --vm $OLD_NAME --rollback --apply"
((NO_STATE)) || say "SSH stays enabled on the new VM as on the old one; turn Enable SSH off in its vApp options and power-cycle it if you do not want it."
if ((${#LEFT[@]})); then
  echo "error: the new appliance serves, but not every step could be done" >&2
  exit 1
fi
