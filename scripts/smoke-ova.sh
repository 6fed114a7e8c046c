#!/usr/bin/env bash
# Smoke test of the appliance image, outside vSphere: boots the disk packer built (or the one
# inside the OVA) in QEMU with the OVF environment on a CD-ROM (vSphere's ISO transport) and a
# vcsim on this host as its vCenter, then checks what a user would: first boot finishes, Contour
# publishes the router's /stats and /metrics over HTTPS with the endpoint credentials, and a
# vCenter event reaches a Knative function (manifests/examples/echo).
#
# Usage: scripts/smoke-ova.sh COMMAND [ARGS]   (see usage() below, or --help)
# Environment: OVA_TOOL (the ova binary; default target/release/ova, then target/debug/ova),
# VCSIM and GOVC (default .tools/bin/*, then PATH), QEMU_ACCEL (kvm or tcg; default kvm when
# /dev/kvm is usable), SMOKE_MEMORY_MB (8192), SMOKE_CPUS (2), SSHPASS (the root password, for
# wait-event), SSH_COMMAND (replaces `sshpass -e ssh ...`; tests use a stand-in).
# Needs bash, curl, jq, python3; make-iso needs xorriso or genisoimage; run also needs
# qemu-system-x86_64, qemu-img, sshpass, ssh, tar, vcsim and govc (scripts/install-test-tools.sh).
set -euo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
SELF=$ROOT/scripts/smoke-ova.sh
# Remote commands run with k3s's tools on PATH and its kubeconfig (a non-login SSH shell has neither).
REMOTE_PREFIX='export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin KUBECONFIG=/etc/rancher/k3s/k3s.yaml;'
TMP_DIRS=()
QEMU_PID=""
VCSIM_PID=""
GUEST_UP=0
LOGS=""

# Prints the usage text.
usage() {
  cat <<'USAGE'
usage: scripts/smoke-ova.sh COMMAND [ARGS]
  make-iso PROPERTIES OUT.iso
      `ova ovf-env` for a properties file (scripts/appliance.properties.example's format),
      written as ovf-env.xml at the root of an ISO 9660 image (vSphere's ISO transport).
  check-router BASE_URL [--resolve HOST:PORT:ADDR] [--user USER:PASS] [--cacert FILE] [--no-readyz]
      One look at a running router: /readyz answers 200 (unless --no-readyz), /stats is the
      router's JSON, /metrics has every vCenter session up; prints a
      one-line summary. With --resolve the Host header is the bare host name (as Contour wants).
  wait-event --ssh USER@HOST:PORT --subject EVENT --vm NAME [--timeout SECONDS] [--log FILE]
      Waits (default 300 s) until the echo function's log (kubectl over SSH, password in
      SSHPASS) shows a CloudEvent with this subject (e.g. VmPoweredOffEvent) naming this VM.
  run (--qcow2 FILE | --ova FILE) [--workdir DIR] [--properties-template FILE] [--vm NAME]
      [--timeout SECONDS]
      The whole smoke test: vcsim on 127.0.0.1, properties (the template's @VCENTER_SERVER@,
      @VCENTER_USERNAME@, @VCENTER_PASSWORD@, @ROOT_PASSWORD@, @ENDPOINT_PASSWORD@ filled in),
      make-iso, QEMU on a copy-on-write overlay with SSH and HTTPS forwarded to 127.0.0.1,
      first boot (within --timeout, default 2400 s), the echo function, check-router through
      Contour, a vcsim VM powered off (--vm, default DC0_H0_VM0), wait-event. Logs go to
      WORKDIR/logs (default WORKDIR: .build/smoke); everything it started is stopped on exit.
USAGE
}

# Prints an error and exits 1.
die() {
  printf 'smoke-ova: %s\n' "$*" >&2
  exit 1
}

# Prints a usage error naming the problem, then the usage, and exits 2.
bad_usage() {
  printf 'smoke-ova: %s\n' "$*" >&2
  usage >&2
  exit 2
}

# Usage error unless option $1 has a value ($2).
need_value() {
  [[ -n ${2-} && ${2-} != --* ]] || bad_usage "$1 needs a value"
}

# Prints a tool's path: the variable named $2 if set, else .tools/bin/$1, else $1 on PATH.
find_tool() {
  local name=$1 var=${2-} override=""
  [[ -z $var ]] || override=${!var-}
  if [[ -n $override ]]; then
    [[ -x $override ]] || command -v "$override" >/dev/null || die "$var=$override is not an executable"
    printf '%s\n' "$override"
  elif [[ -x $ROOT/.tools/bin/$name ]]; then
    printf '%s\n' "$ROOT/.tools/bin/$name"
  elif command -v "$name" >/dev/null; then
    command -v "$name"
  else
    die "$name is not installed (scripts/install-test-tools.sh builds it into .tools/bin)"
  fi
}

# Dies naming every listed command that is missing.
require() {
  local missing=() cmd
  for cmd in "$@"; do
    command -v "$cmd" >/dev/null || missing+=("$cmd")
  done
  ((${#missing[@]} == 0)) || die "missing tools: ${missing[*]} (Debian/Ubuntu: curl jq python3 qemu-system-x86 qemu-utils sshpass openssh-client xorriso)"
}

# Makes a private temporary folder, removed on exit, and sets TMP to it (no subshell: the
# folder must reach TMP_DIRS).
make_tmp() {
  TMP=$(mktemp -d "${TMPDIR:-/tmp}/smoke-ova.XXXXXX")
  chmod 700 "$TMP"
  TMP_DIRS+=("$TMP")
}

# Seconds since the epoch.
now() { date +%s; }

# ------------------------------------------------------------------ make-iso

# Prints the ova binary: $OVA_TOOL, else the release build, else the debug build.
ova_tool() {
  local candidate
  if [[ -n ${OVA_TOOL:-} ]]; then
    [[ -x $OVA_TOOL ]] || die "OVA_TOOL=$OVA_TOOL is not an executable"
    printf '%s\n' "$OVA_TOOL"
    return
  fi
  for candidate in "$ROOT/target/release/ova" "$ROOT/target/debug/ova"; do
    [[ -x $candidate ]] && { printf '%s\n' "$candidate"; return; }
  done
  die "no ova binary: run \`cargo build -p ovf\` or set OVA_TOOL"
}

# Writes $2 (an ISO with ovf-env.xml at its root) from the environment document $1; the
# tool's chatter is shown only when it fails.
write_iso() {
  local xml=$1 out=$2 tool
  if command -v xorriso >/dev/null; then
    tool=(xorriso -report_about SORRY -as mkisofs)
  elif command -v genisoimage >/dev/null; then
    tool=(genisoimage)
  else
    die "neither xorriso nor genisoimage is installed (apt-get install xorriso)"
  fi
  "${tool[@]}" -quiet -input-charset utf-8 -V OVF_ENV -J -R -o "$out" "$xml" 2>"$xml.log" ||
    die "${tool[0]} could not write $out: $(snippet "$xml.log")"
}

# make-iso PROPERTIES OUT.iso
cmd_make_iso() {
  (($# == 2)) || bad_usage "make-iso needs PROPERTIES and OUT.iso"
  local props=$1 out=$2 ova dir rc=0
  [[ -f $props && -r $props ]] || bad_usage "no properties file at $props"
  [[ -d $(dirname -- "$out") ]] || bad_usage "no folder for $out"
  ova=$(ova_tool)
  make_tmp
  dir=$TMP
  # ova names the bad line itself; keep its exit code (2 for a bad file).
  "$ova" ovf-env --properties "$props" >"$dir/ovf-env.xml" || rc=$?
  ((rc == 0)) || exit "$rc"
  (umask 077 && write_iso "$dir/ovf-env.xml" "$out")
  printf 'wrote %s: ovf-env.xml with %s properties\n' "$out" "$(grep -c 'oe:key=' "$dir/ovf-env.xml")"
}

# ------------------------------------------------------------------ check-router

# GET $1 with CURL_ARGS into the file $2 (curl's error in $2.err); prints the status (000: no answer).
http_get() {
  local code
  code=$(curl -sS --max-time 20 "${CURL_ARGS[@]}" -o "$2" -w '%{http_code}' "$1" 2>"$2.err") || true
  printf '%s\n' "${code:-000}"
}

# The first 200 bytes of a file on one line, for error messages.
snippet() {
  head -c 200 "$1" | tr '\n' ' '
}

# GET BASE_URL$1 into $2 and dies unless the answer is 200.
expect_200() {
  local url=$BASE_URL$1 code
  code=$(http_get "$url" "$2")
  [[ $code != 000 ]] || die "check-router: GET $url: no answer ($(snippet "$2.err"))"
  [[ $code == 200 ]] || die "check-router: GET $url: HTTP $code (expected 200): $(snippet "$2")"
}

# check-router BASE_URL [--resolve HOST:PORT:ADDR] [--user USER:PASS] [--cacert FILE] [--no-readyz]
cmd_check_router() {
  local base="" resolve="" user="" cacert="" readyz=1 dir host sessions total up ready="" summary
  while (($#)); do
    case $1 in
      --resolve | --user | --cacert)
        need_value "$1" "${2-}"
        case $1 in --resolve) resolve=$2 ;; --user) user=$2 ;; --cacert) cacert=$2 ;; esac
        shift 2
        ;;
      --no-readyz) readyz=0 && shift ;;
      --*) bad_usage "unknown option $1 for check-router" ;;
      *)
        [[ -z $base ]] || bad_usage "check-router takes one BASE_URL, got '$base' and '$1'"
        base=${1%/} && shift
        ;;
    esac
  done
  [[ -n $base ]] || bad_usage "check-router needs BASE_URL"
  [[ $base =~ ^https?://([^/:]+)(:[0-9]+)?$ ]] || bad_usage "BASE_URL must be http(s)://HOST[:PORT], got '$base'"
  host=${BASH_REMATCH[1]}
  [[ -z $resolve || $resolve =~ ^[^:]+:[0-9]+:.+$ ]] || bad_usage "--resolve must be HOST:PORT:ADDR, got '$resolve'"
  [[ -z $user || $user == *:* ]] || bad_usage "--user must be USER:PASS"
  [[ -z $cacert || -f $cacert ]] || bad_usage "no CA certificate at $cacert"
  require curl jq

  BASE_URL=$base
  CURL_ARGS=()
  # Contour matches the virtual host on the Host header: no forwarded port in it.
  [[ -n $resolve ]] && CURL_ARGS+=(--resolve "$resolve" -H "Host: $host")
  if [[ -n $cacert ]]; then
    CURL_ARGS+=(--cacert "$cacert")
  elif [[ $base == https://* ]]; then
    CURL_ARGS+=(--insecure)
  fi
  [[ -n $user ]] && CURL_ARGS+=(--user "$user")
  make_tmp
  dir=$TMP

  if ((readyz)); then
    expect_200 /readyz "$dir/readyz"
    ready="readyz 200, "
  fi
  expect_200 /stats "$dir/stats"
  jq -e '.system.programName == "event-router" and (."vmware.event.router.stats" | type == "object")' \
    "$dir/stats" >/dev/null 2>&1 ||
    die "check-router: GET $base/stats: not the event router's stats JSON (system.programName, vmware.event.router.stats): $(snippet "$dir/stats")"
  expect_200 /metrics "$dir/metrics"
  grep -q '^event_router_uptime_seconds ' "$dir/metrics" ||
    die "check-router: GET $base/metrics: no event_router_uptime_seconds sample: $(snippet "$dir/metrics")"
  # Every vCenter source's session gauge: "total up".
  sessions=$(awk '/^event_router_vcenter_session_up[{ ]/ { n++; if ($NF == 1) up++ } END { print n + 0, up + 0 }' "$dir/metrics")
  read -r total up <<<"$sessions"
  ((up == total)) || die "check-router: GET $base/metrics: $((total - up)) of $total vCenter sessions down (event_router_vcenter_session_up 0)"

  summary=$(jq -r '"event-router \(.system.version), up \(.system.numberOfSeconds) s; " +
    ([."vmware.event.router.stats" | to_entries[] |
      "\(.key): \(.value.events_total) events, \(.value.events_err) errors"] | join("; "))' "$dir/stats")
  printf 'router ok: %s (%s%s vCenter sessions up) %s\n' "$base" "$ready" "$up/$total" "$summary"
}

# ------------------------------------------------------------------ wait-event

# Dies unless the guest can be reached: SSH_COMMAND, or sshpass and ssh with SSHPASS set.
check_ssh() {
  [[ -z ${SSH_COMMAND:-} ]] || return 0
  require sshpass ssh
  [[ -n ${SSHPASS:-} ]] || die "set SSHPASS to the appliance's root password"
}

# Runs the shell command $1 on the guest (SSH_USER@SSH_HOST:SSH_PORT); stdin is passed on.
guest_in() {
  local ssh=()
  if [[ -n ${SSH_COMMAND:-} ]]; then
    read -ra ssh <<<"$SSH_COMMAND"
  else
    ssh=(sshpass -e ssh -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR
      -o ConnectTimeout=10 -o ServerAliveInterval=15 -o ServerAliveCountMax=4
      -o PubkeyAuthentication=no -o "PreferredAuthentications=password,keyboard-interactive")
  fi
  timeout "${GUEST_TIMEOUT:-600}" "${ssh[@]}" -p "$SSH_PORT" "$SSH_USER@$SSH_HOST" "$REMOTE_PREFIX $1"
}

# Runs the shell command $1 on the guest with no stdin.
guest() {
  guest_in "$1" </dev/null
}

# Sets SSH_USER, SSH_HOST and SSH_PORT from USER@HOST:PORT.
parse_ssh_target() {
  [[ $1 =~ ^([^@]+)@([^:@]+):([0-9]+)$ ]] || bad_usage "--ssh must be USER@HOST:PORT, got '$1'"
  SSH_USER=${BASH_REMATCH[1]} SSH_HOST=${BASH_REMATCH[2]} SSH_PORT=${BASH_REMATCH[3]}
}

# True when the event_display log on stdin has one CloudEvent with subject $1 (or VEBA's type
# com.vmware.vsphere.$1.v0) that names $2.
log_has_event() {
  awk -v subject="$1" -v vm="$2" '
    /cloudevents\.Event/ { if (s && v) found = 1; s = v = 0; next }
    index($0, "subject: " subject) || index($0, "type: com.vmware.vsphere." subject ".v0") { s = 1 }
    index($0, vm) { v = 1 }
    END { if (s && v) found = 1; exit !found }'
}

# wait-event --ssh USER@HOST:PORT --subject EVENT --vm NAME [--timeout SECONDS] [--log FILE]
cmd_wait_event() {
  local target="" subject="" vm="" timeout=300 log="" deadline
  while (($#)); do
    case $1 in
      --ssh | --subject | --vm | --timeout | --log)
        need_value "$1" "${2-}"
        case $1 in
          --ssh) target=$2 ;; --subject) subject=$2 ;; --vm) vm=$2 ;; --timeout) timeout=$2 ;; --log) log=$2 ;;
        esac
        shift 2
        ;;
      *) bad_usage "unknown argument $1 for wait-event" ;;
    esac
  done
  [[ -n $target && -n $subject && -n $vm ]] || bad_usage "wait-event needs --ssh, --subject and --vm"
  [[ $timeout =~ ^[0-9]+$ ]] || bad_usage "--timeout must be a number of seconds, got '$timeout'"
  parse_ssh_target "$target"
  check_ssh
  if [[ -z $log ]]; then
    make_tmp
    log=$TMP/echo.log
  fi
  deadline=$(($(now) + timeout))
  while :; do
    if guest 'kubectl -n vmware-functions logs -l serving.knative.dev/service=echo -c user-container --tail=-1 --max-log-requests=20' \
      >"$log" 2>"$log.err" && log_has_event "$subject" "$vm" <"$log"; then
      printf 'event ok: the echo function logged %s for %s\n' "$subject" "$vm"
      return 0
    fi
    if (($(now) >= deadline)); then
      die "wait-event: no CloudEvent with subject $subject naming $vm in the echo function's log after ${timeout} s (last log lines: $(tail -n 5 "$log" | tr '\n' ' ')$(snippet "$log.err"))"
    fi
    sleep 5
  done
}

# ------------------------------------------------------------------ run

# A free TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Starts vcsim on 127.0.0.1; sets VC_PORT, VC_USER, VC_PASS and govc's environment.
start_vcsim() {
  local vcsim url="" i
  vcsim=$(find_tool vcsim VCSIM)
  : >"$LOGS/vcsim.out"
  "$vcsim" -l 127.0.0.1:0 >"$LOGS/vcsim.out" 2>"$LOGS/vcsim.log" &
  VCSIM_PID=$!
  for ((i = 0; i < 150; i++)); do
    url=$(grep -o 'GOVC_URL=[^ ]*' "$LOGS/vcsim.out" || true)
    [[ -z $url ]] || break
    kill -0 "$VCSIM_PID" 2>/dev/null || die "vcsim exited at start: see $LOGS/vcsim.log"
    sleep 0.2
  done
  [[ ${url#GOVC_URL=} =~ ^https://([^:@]+):([^@]+)@127\.0\.0\.1:([0-9]+)/sdk$ ]] ||
    die "vcsim printed no usable GOVC_URL within 30 s (got '${url:-nothing}'): see $LOGS/vcsim.log"
  VC_USER=${BASH_REMATCH[1]} VC_PASS=${BASH_REMATCH[2]} VC_PORT=${BASH_REMATCH[3]}
  export GOVC_URL=${url#GOVC_URL=} GOVC_INSECURE=1 GOVMOMI_HOME=$WORK/govmomi
  echo "vcsim: 127.0.0.1:$VC_PORT (the guest's 10.0.2.2:$VC_PORT)"
}

# A random password: "Smoke-" and 24 hex digits.
random_password() {
  printf 'Smoke-%s\n' "$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
}

# The default properties template: SSH on, the vCenter is vcsim, Knative processor.
default_template() {
  cat <<'PROPERTIES'
# scripts/smoke-ova.sh run: the appliance under test (QEMU user networking, DHCP)
guestinfo.hostname=veba.smoke.test
guestinfo.root_password=@ROOT_PASSWORD@
guestinfo.enable_ssh=True
guestinfo.endpoint_username=admin
guestinfo.endpoint_password=@ENDPOINT_PASSWORD@
guestinfo.vcenter_server=@VCENTER_SERVER@
guestinfo.vcenter_username=@VCENTER_USERNAME@
guestinfo.vcenter_password=@VCENTER_PASSWORD@
guestinfo.vcenter_disable_tls_verification=True
guestinfo.processor=knative
guestinfo.debug=True
PROPERTIES
}

# Prints property $1's value from PROP_KEYS/PROP_VALUES (read_properties), or nothing.
prop() {
  local i
  for i in "${!PROP_KEYS[@]}"; do
    [[ ${PROP_KEYS[$i]} == "guestinfo.$1" ]] && { printf '%s\n' "${PROP_VALUES[$i]}"; return; }
  done
  return 0
}

# Writes WORK/appliance.properties from the template $1 (empty: the default) and reads back
# HOSTNAME_FQDN, ROOT_PW and ENDPOINT_USER (USER:PASS or empty).
write_properties() {
  local text root_pw endpoint_pw user pass
  if [[ -n $1 ]]; then text=$(<"$1"); else text=$(default_template); fi
  root_pw=$(random_password) endpoint_pw=$(random_password)
  if [[ ${GITHUB_ACTIONS:-} == true ]]; then
    echo "::add-mask::$root_pw"
    echo "::add-mask::$endpoint_pw"
  fi
  text=${text//@ROOT_PASSWORD@/"$root_pw"}
  text=${text//@ENDPOINT_PASSWORD@/"$endpoint_pw"}
  text=${text//@VCENTER_SERVER@/"10.0.2.2:$VC_PORT"}
  text=${text//@VCENTER_USERNAME@/"$VC_USER"}
  text=${text//@VCENTER_PASSWORD@/"$VC_PASS"}
  (umask 077 && printf '%s\n' "$text" >"$WORK/appliance.properties")

  # shellcheck source=scripts/lib-properties.sh
  source "$ROOT/scripts/lib-properties.sh"
  read_properties "$WORK/appliance.properties"
  HOSTNAME_FQDN=$(prop hostname)
  ROOT_PW=$(prop root_password)
  [[ -n $HOSTNAME_FQDN ]] || die "the properties set no guestinfo.hostname"
  [[ -n $ROOT_PW ]] || die "the properties set no guestinfo.root_password (the smoke test logs in with it)"
  [[ $(prop enable_ssh) =~ ^[Tt][Rr][Uu][Ee]$ ]] || die "the properties must set guestinfo.enable_ssh=True (the smoke test uses SSH)"
  user=$(prop endpoint_username) pass=$(prop endpoint_password)
  ENDPOINT_USER=""
  [[ -z $user || -z $pass ]] || ENDPOINT_USER=$user:$pass
}

# Makes WORK/disk.qcow2, a copy-on-write overlay of the qcow2 $1 or of the disk inside the OVA $2.
make_overlay() {
  local qcow2=$1 ova=$2 base fmt disks=()
  if [[ -n $ova ]]; then
    if [[ -f $ova.sha256 ]]; then
      (cd "$(dirname -- "$ova")" && sha256sum --quiet -c "$(basename -- "$ova").sha256") ||
        die "$ova does not match $ova.sha256"
    fi
    rm -rf "$WORK/ova" && mkdir -p "$WORK/ova"
    tar -xf "$ova" -C "$WORK/ova" --wildcards '*.vmdk' || die "cannot read a .vmdk from $ova"
    mapfile -t disks < <(find "$WORK/ova" -name '*.vmdk' | sort)
    ((${#disks[@]})) || die "$ova has no .vmdk disk"
    base=${disks[0]} fmt=vmdk
  else
    base=$(realpath -- "$qcow2") fmt=qcow2
  fi
  rm -f "$WORK/disk.qcow2"
  qemu-img create -q -f qcow2 -F "$fmt" -b "$base" "$WORK/disk.qcow2"
}

# Boots QEMU on WORK/disk.qcow2 with the ISO $1; SSH and HTTPS forwarded from 127.0.0.1.
boot_qemu() {
  local accel=${QEMU_ACCEL:-} cpu
  if [[ -z $accel ]]; then
    if [[ -r /dev/kvm && -w /dev/kvm ]]; then accel=kvm; else accel=tcg; fi
  fi
  case $accel in
    kvm) cpu=host ;;
    tcg) cpu=max && echo "qemu: no usable /dev/kvm, emulating (TCG): expect a slow boot" ;;
    *) die "QEMU_ACCEL must be kvm or tcg, got '$accel'" ;;
  esac
  SSH_PORT=$(free_port) HTTPS_PORT=$(free_port)
  qemu-system-x86_64 -name event-broker-smoke -machine pc,accel="$accel" -cpu "$cpu" \
    -m "${SMOKE_MEMORY_MB:-8192}" -smp "${SMOKE_CPUS:-2}" \
    -device virtio-scsi-pci,id=scsi0 \
    -drive file="$WORK/disk.qcow2",if=none,id=disk0,format=qcow2,discard=unmap \
    -device scsi-hd,drive=disk0,bus=scsi0.0 \
    -drive file="$1",media=cdrom,if=ide,index=2,readonly=on \
    -netdev user,id=net0,hostfwd=tcp:127.0.0.1:"$SSH_PORT"-:22,hostfwd=tcp:127.0.0.1:"$HTTPS_PORT"-:443 \
    -device virtio-net-pci,netdev=net0 \
    -serial file:"$LOGS/serial.log" -display none -monitor none -pidfile "$WORK/qemu.pid" \
    >"$LOGS/qemu.log" 2>&1 &
  QEMU_PID=$!
  SSH_USER=root SSH_HOST=127.0.0.1
  echo "qemu: pid $QEMU_PID ($accel), ssh 127.0.0.1:$SSH_PORT, https 127.0.0.1:$HTTPS_PORT"
}

# Dies when QEMU is no longer running.
check_qemu() {
  kill -0 "$QEMU_PID" 2>/dev/null ||
    die "QEMU exited: $(snippet "$LOGS/qemu.log")(see $LOGS/qemu.log and $LOGS/serial.log)"
}

# Waits for SSH, then for `firstboot status` to report ok; dies on failed/invalid or timeout.
wait_firstboot() {
  local deadline=$(($(now) + $1)) start out rc result last=""
  start=$(now)
  while :; do
    check_qemu
    rc=0
    out=$(guest 'firstboot status' 2>&1) || rc=$?
    if [[ $out == "last run:"* || $out == *"has not run yet"* ]]; then
      ((GUEST_UP)) || echo "ssh: the appliance answers after $(($(now) - start)) s"
      GUEST_UP=1
      printf '%s\n' "$out" >"$LOGS/firstboot-status.txt"
    fi
    ((rc != 0)) || { echo "firstboot: ok after $(($(now) - start)) s"; return; }
    result=$(sed -n '1s/^last run: started .*, \([a-z]*\) (.*/\1/p' <<<"$out")
    case $result in
      failed | invalid) die "first boot $result: $(tr '\n' ' ' <<<"$out")" ;;
    esac
    if [[ $result != "$last" ]]; then
      [[ -z $result ]] || echo "firstboot: $result"
      last=$result
    fi
    (($(now) < deadline)) || die "first boot did not finish within $1 s (last: ${out:-no SSH answer}; see $LOGS)"
    sleep 10
  done
}

# Applies manifests/examples/echo on the guest and waits for its Service and Trigger.
deploy_echo() {
  local GUEST_TIMEOUT=1000
  tar -C "$ROOT/manifests/examples" -cf - echo |
    guest_in 'rm -rf /tmp/smoke-echo && mkdir -p /tmp/smoke-echo && tar -xf - -C /tmp/smoke-echo && kubectl apply -k /tmp/smoke-echo/echo' ||
    die "kubectl apply -k manifests/examples/echo failed on the appliance"
  guest 'kubectl -n vmware-functions wait --for=condition=Ready ksvc/echo trigger/echo --timeout=900s' ||
    die "the echo function or its trigger did not become Ready within 900 s (see $LOGS/functions.txt)"
  echo "echo: function and trigger ready"
}

# Fetches the appliance's certificate and retries check-router through Contour for up to $1 s.
check_router_via_contour() {
  local deadline=$(($(now) + $1)) out args
  guest 'kubectl -n vmware-system get secret appliance-tls -o "jsonpath={.data.tls\.crt}"' |
    base64 -d >"$WORK/appliance.crt" || die "cannot read the appliance-tls certificate"
  args=("https://$HOSTNAME_FQDN:$HTTPS_PORT" --resolve "$HOSTNAME_FQDN:$HTTPS_PORT:127.0.0.1"
    --cacert "$WORK/appliance.crt")
  [[ -z $ENDPOINT_USER ]] || args+=(--user "$ENDPOINT_USER")
  until out=$(bash "$SELF" check-router "${args[@]}" 2>&1); do
    (($(now) < deadline)) || die "the router is not published through Contour within $1 s: $out"
    sleep 10
  done
  printf '%s\n' "$out" | tee -a "$LOGS/check-router.txt"
}

# Saves what explains a failure (or a success) from the guest into LOGS.
collect_diagnostics() {
  local name cmd GUEST_TIMEOUT=120
  while IFS='|' read -r name cmd; do
    guest "$cmd" >"$LOGS/$name" 2>&1 || true
  done <<'DIAGNOSTICS'
firstboot-status.txt|firstboot status
bootstrap.log|cat /var/log/bootstrap.log
journal.txt|journalctl -u firstboot -u k3s --no-pager -n 3000
pods.txt|kubectl get nodes,pods,svc -A -o wide; kubectl get httpproxy -A
functions.txt|kubectl -n vmware-functions get broker,trigger,ksvc,pods -o wide; kubectl -n vmware-functions describe ksvc echo trigger echo
router.log|kubectl -n vmware-system logs deploy/event-router --tail=1000
echo.log|kubectl -n vmware-functions logs -l serving.knative.dev/service=echo -c user-container --tail=-1
DIAGNOSTICS
}

# Stops a process: SIGTERM, then SIGKILL after 10 s.
stop_pid() {
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.2
  done
  kill -KILL "$pid" 2>/dev/null || true
}

# run (--qcow2 FILE | --ova FILE) [--workdir DIR] [--properties-template FILE] [--vm NAME] [--timeout SECONDS]
cmd_run() {
  local qcow2="" ova="" template="" vm=DC0_H0_VM0 timeout=2400 started
  WORK=$ROOT/.build/smoke
  while (($#)); do
    case $1 in
      --qcow2 | --ova | --workdir | --properties-template | --vm | --timeout)
        need_value "$1" "${2-}"
        case $1 in
          --qcow2) qcow2=$2 ;; --ova) ova=$2 ;; --workdir) WORK=$2 ;;
          --properties-template) template=$2 ;; --vm) vm=$2 ;; --timeout) timeout=$2 ;;
        esac
        shift 2
        ;;
      *) bad_usage "unknown argument $1 for run" ;;
    esac
  done
  [[ -n $qcow2 || -n $ova ]] || bad_usage "run needs --qcow2 FILE or --ova FILE"
  [[ -z $qcow2 || -z $ova ]] || bad_usage "run takes --qcow2 or --ova, not both"
  [[ $timeout =~ ^[0-9]+$ ]] || bad_usage "--timeout must be a number of seconds, got '$timeout'"
  [[ -z $qcow2 || -f $qcow2 ]] || bad_usage "no disk image at $qcow2"
  [[ -z $ova || -f $ova ]] || bad_usage "no OVA at $ova"
  [[ -z $template || -f $template ]] || bad_usage "no properties template at $template"
  require curl jq python3 qemu-system-x86_64 qemu-img tar base64 timeout
  [[ -n ${SSH_COMMAND:-} ]] || require sshpass ssh
  find_tool govc GOVC >/dev/null

  mkdir -p "$WORK/logs"
  WORK=$(cd -- "$WORK" && pwd -P)
  LOGS=$WORK/logs
  started=$(now)
  start_vcsim
  write_properties "$template"
  export SSHPASS=$ROOT_PW
  check_ssh
  bash "$SELF" make-iso "$WORK/appliance.properties" "$WORK/ovf-env.iso"
  make_overlay "$qcow2" "$ova"
  boot_qemu "$WORK/ovf-env.iso"

  wait_firstboot "$timeout"
  deploy_echo
  check_router_via_contour 600
  "$(find_tool govc GOVC)" vm.power -off "$vm" >/dev/null || die "govc could not power off $vm in vcsim"
  echo "vcsim: powered off $vm"
  bash "$SELF" wait-event --ssh "$SSH_USER@$SSH_HOST:$SSH_PORT" --subject VmPoweredOffEvent --vm "$vm" \
    --timeout 300 --log "$LOGS/echo.log"
  check_router_via_contour 60
  echo "smoke: PASS in $(($(now) - started)) s (logs: $LOGS)"
}

# On exit: diagnostics from a guest that answered, then stop QEMU and vcsim, remove temp folders.
cleanup() {
  local rc=$? dir
  trap - EXIT
  if [[ -n $QEMU_PID ]]; then
    if ((GUEST_UP)) && kill -0 "$QEMU_PID" 2>/dev/null; then
      echo "collecting diagnostics into $LOGS" >&2
      collect_diagnostics
    fi
    stop_pid "$QEMU_PID"
  fi
  [[ -z $VCSIM_PID ]] || stop_pid "$VCSIM_PID"
  for dir in "${TMP_DIRS[@]}"; do
    rm -rf "$dir"
  done
  exit "$rc"
}

# Dispatches the command.
main() {
  (($#)) || bad_usage "no command given"
  local cmd=$1
  shift
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  case $cmd in
    make-iso) cmd_make_iso "$@" ;;
    check-router) cmd_check_router "$@" ;;
    wait-event) cmd_wait_event "$@" ;;
    run) cmd_run "$@" ;;
    -h | --help | help) usage ;;
    *) bad_usage "unknown command '$cmd'" ;;
  esac
}

main "$@"
