#!/usr/bin/env bash
# A real Kubernetes API server on loopback for the tests: etcd, kube-apiserver (RBAC, TLS with a
# fresh CA, service-account issuer and keys, a static admin token) and kube-controller-manager
# (service-account, token, namespace and garbage-collector controllers), from
# scripts/install-kube-apiserver.sh. tests/e2e/harness/kube.rs runs it; run it by hand the same way.
#
#   kube-api.sh --bin DIR --kubectl PATH --api-port N --etcd-port N --etcd-peer-port N
#
# Prints `DIR <folder>` (PKI, admin.token, kubeconfig, logs), then `READY https://127.0.0.1:<port>`
# once /readyz answers ok and the controller manager has made the default ServiceAccount. Then it
# waits for end of file on its standard input and stops everything (controller manager, API
# server, then etcd) and removes the folder. The harness holds the write end of that pipe: when
# the test process ends in any way, even SIGKILL, the kernel closes it and the servers stop with
# it (a parent-death signal would not do: Linux sends it when the spawning *thread* ends, and each
# test runs on a thread of its own). SIGTERM and SIGINT stop it the same way. When starting fails
# it exits 1 naming the log and keeps the folder.
set -euo pipefail

BIN='' KUBECTL='' API_PORT='' ETCD_PORT='' PEER_PORT=''
while (($#)); do
  case $1 in
  --bin) BIN=$2 ;;
  --kubectl) KUBECTL=$2 ;;
  --api-port) API_PORT=$2 ;;
  --etcd-port) ETCD_PORT=$2 ;;
  --etcd-peer-port) PEER_PORT=$2 ;;
  *)
    echo "usage: $0 --bin DIR --kubectl PATH --api-port N --etcd-port N --etcd-peer-port N" >&2
    exit 2
    ;;
  esac
  shift 2
done
for v in BIN KUBECTL API_PORT ETCD_PORT PEER_PORT; do
  [[ -n ${!v} ]] || { echo "kube-api.sh: missing --${v,,}" >&2; exit 2; }
done
for b in etcd kube-apiserver kube-controller-manager; do
  [[ -x $BIN/$b ]] || { echo "kube-api.sh: $BIN/$b is missing: run scripts/install-kube-apiserver.sh" >&2; exit 1; }
done
[[ -x $KUBECTL ]] || { echo "kube-api.sh: $KUBECTL is missing: run scripts/install-test-tools.sh" >&2; exit 1; }
BIN=$(cd -- "$BIN" && pwd -P)
KUBECTL=$(realpath -- "$KUBECTL")
command -v openssl >/dev/null || { echo "kube-api.sh: openssl is missing (apt-get install openssl)" >&2; exit 1; }

DIR=$(mktemp -d "${TMPDIR:-/tmp}/er-kube-api.XXXXXX")
echo "DIR $DIR"
ready=0
pids=()

stop_pid() { # pid: SIGTERM, then SIGKILL after 10 s
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local i
  trap - EXIT INT TERM HUP
  # The reverse of the start order: the API server before etcd.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    stop_pid "${pids[i]}"
  done
  if ((ready)); then rm -rf "$DIR"; fi
}
trap cleanup EXIT
trap 'exit 143' INT TERM HUP

fail() {
  echo "kube-api.sh: $1; the log: $2 (kept in $DIR)" >&2
  tail -n 20 "$2" >&2 || true
  exit 1
}

# ---------------------------------------------------------------- PKI (openssl, P-256, 2 days)
cd "$DIR"
ossl() { openssl "$@" 2>>"$DIR/openssl.log"; }
ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj /CN=e2e-kube-ca -keyout ca.key -out ca.crt \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
ossl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=kube-apiserver \
  -keyout apiserver.key -out apiserver.csr
cat >apiserver.ext <<'EXT'
subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
EXT
ossl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
  -extfile apiserver.ext -out apiserver.crt
ossl genrsa -out sa.key 2048
ossl rsa -in sa.key -pubout -out sa.pub
TOKEN=$(openssl rand -hex 24)
printf '%s' "$TOKEN" >admin.token
printf '%s,admin,admin,"system:masters"\n' "$TOKEN" >tokens.csv
chmod 0600 ./*.key admin.token tokens.csv
SERVER=https://127.0.0.1:$API_PORT
cat >kubeconfig <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
  - name: e2e
    cluster:
      server: $SERVER
      certificate-authority: $DIR/ca.crt
users:
  - name: admin
    user:
      token: $TOKEN
contexts:
  - name: e2e
    context: {cluster: e2e, user: admin, namespace: default}
current-context: e2e
KUBECONFIG
kubectl() { "$KUBECTL" --kubeconfig "$DIR/kubeconfig" --request-timeout=5s "$@"; }

# ---------------------------------------------------------------- etcd
"$BIN/etcd" --name e2e --data-dir "$DIR/etcd" --logger zap --log-level warn \
  --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls "http://127.0.0.1:$PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$PEER_PORT" \
  --initial-cluster "e2e=http://127.0.0.1:$PEER_PORT" \
  </dev/null >/dev/null 2>"$DIR/etcd.log" &
pids+=($!)

# ---------------------------------------------------------------- kube-apiserver
# Loopback only: no insecure port, bound and advertised on 127.0.0.1, no endpoint reconciler (the
# kubernetes Service gets no endpoints; nothing here would route to them).
"$BIN/kube-apiserver" \
  --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$API_PORT" --insecure-port=0 \
  --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
  --tls-cert-file="$DIR/apiserver.crt" --tls-private-key-file="$DIR/apiserver.key" --cert-dir="$DIR/cert" \
  --client-ca-file="$DIR/ca.crt" --token-auth-file="$DIR/tokens.csv" \
  --authorization-mode=RBAC \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$DIR/sa.pub" --service-account-signing-key-file="$DIR/sa.key" \
  --service-cluster-ip-range=10.96.0.0/24 --endpoint-reconciler-type=none \
  --profiling=false \
  </dev/null >/dev/null 2>"$DIR/kube-apiserver.log" &
pids+=($!)

for ((i = 0; ; i++)); do
  [[ $(kubectl get --raw /readyz 2>/dev/null) == ok ]] && break
  kill -0 "${pids[0]}" 2>/dev/null || fail "etcd exited" "$DIR/etcd.log"
  kill -0 "${pids[1]}" 2>/dev/null || fail "kube-apiserver exited" "$DIR/kube-apiserver.log"
  ((i < 300)) || fail "kube-apiserver's /readyz is not ok after 60 s" "$DIR/kube-apiserver.log"
  sleep 0.2
done

# ---------------------------------------------------------------- kube-controller-manager
# No listener of its own (--port=0 --secure-port=0), no leader election.
"$BIN/kube-controller-manager" --kubeconfig="$DIR/kubeconfig" \
  --controllers=serviceaccount-token,serviceaccount,namespace,garbagecollector \
  --service-account-private-key-file="$DIR/sa.key" --root-ca-file="$DIR/ca.crt" \
  --leader-elect=false --port=0 --secure-port=0 --profiling=false \
  </dev/null >/dev/null 2>"$DIR/kube-controller-manager.log" &
pids+=($!)
for ((i = 0; ; i++)); do
  kubectl -n default get serviceaccount default >/dev/null 2>&1 && break
  kill -0 "${pids[2]}" 2>/dev/null || fail "kube-controller-manager exited" "$DIR/kube-controller-manager.log"
  ((i < 300)) || fail "kube-controller-manager made no default ServiceAccount in 60 s" "$DIR/kube-controller-manager.log"
  sleep 0.2
done

ready=1
echo "READY $SERVER"
# Until end of file on stdin (the test process closed the pipe or ended), or a signal.
while read -r _; do :; done
