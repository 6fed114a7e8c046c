#!/usr/bin/env bash
# A real Kubernetes API server for the tests, idempotently, into <repo>/.tools/kubernetes/bin
# (gitignored):
#
#   kube-apiserver, kube-controller-manager   built from Debian's `kubernetes` source package
#                                             (upstream v1.20.2 with vendor/), Go 1.19, GOPATH mode
#   etcd                                      Debian's etcd-server .deb, unpacked (no service)
#
# The tests start them on loopback (tests/peers/kube-api.sh, tests/e2e/harness/kube.rs). Facts and
# pitfalls: ../shared/reference/kube-apiserver-from-debian.md. Only Debian's archive is used: the
# source package through a private apt config (the machine's apt setup is untouched), as
# install-test-tools.sh does for govmomi.
#
# The downloads and the Go build cache live OUTSIDE the work tree, in KUBE_TOOLS_CACHE (default
# ${XDG_CACHE_HOME:-~/.cache}/event-broker-appliance/kubernetes, beside scripts/vm-image.sh's
# cache): CI runs every submission in a fresh clone, and each developer's worktree has its own
# .tools, so a cache inside the tree would make every one of them pay the whole ~6 minute build
# (2 cores). With the cache warm the build compiles nothing (-trimpath keeps the cache keys free
# of the checkout's path) and an install takes seconds. Per-user XDG needs no root; the cache is
# safe to delete (about 1.5 GB: Go build cache 1.3 GB, source and .debs 60 MB).
#
# Called by install-test-tools.sh (which installs the Debian packages this needs); runs alone too.
# Environment overrides:
#   GO                go binary (default: /usr/bin/go, Debian's go 1.19 from golang-go)
#   KUBE_TOOLS_CACHE  the cache folder described above
set -euo pipefail

START_SECONDS=$SECONDS
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
TOOLS=$ROOT/.tools
KUBE_ROOT=$TOOLS/kubernetes
KUBE_BIN=$KUBE_ROOT/bin
WORK=$TOOLS/build/kubernetes
GO=${GO:-/usr/bin/go}
CACHE=${KUBE_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/event-broker-appliance/kubernetes}

KUBE_SRC_PKG=kubernetes
KUBE_DEB_VERSION=1.20.5+really1.20.2-1.1+deb12u1
KUBE_UPSTREAM=1.20.2
KUBE_ORIG=${KUBE_SRC_PKG}_1.20.5+really1.20.2.orig.tar.gz
# Pinned besides the .dsc's own checksum (apt checks that against the signed Sources index).
KUBE_ORIG_SHA256=b83c0780efb182d928dc63d46488a847f161f04e40a94b96bf5247dd671ecdfc
ETCD_DEB_VERSION=3.4.23-4+b4
# Debian's reflect2 1.0.2 replaces the vendored 1.0.1, which is unsafe on Go >= 1.18.
REFLECT2_PKG=golang-github-modern-go-reflect2-dev
REFLECT2_SRC=/usr/share/gocode/src/github.com/modern-go/reflect2
# Bump RECIPE when the build steps below change, to force a rebuild.
RECIPE=1
STAMP=$KUBE_ROOT/.stamp
STAMP_TEXT="kubernetes=$KUBE_DEB_VERSION etcd-server=$ETCD_DEB_VERSION recipe=$RECIPE"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

apt_get() {
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 "$@"
}

if [[ -x $KUBE_BIN/kube-apiserver && -x $KUBE_BIN/kube-controller-manager && -x $KUBE_BIN/etcd &&
  -f $STAMP && $(<"$STAMP") == "$STAMP_TEXT" ]]; then
  log "kube-apiserver, kube-controller-manager $KUBE_UPSTREAM and etcd $ETCD_DEB_VERSION are up to date"
  exit 0
fi

# ---------------------------------------------------------------- what this needs
missing=()
[[ -x $GO ]] || missing+=("golang-go (no $GO)")
[[ -f $REFLECT2_SRC/reflect2.go ]] || missing+=("$REFLECT2_PKG (no $REFLECT2_SRC)")
for cmd in apt-get dpkg-deb tar sha256sum awk; do
  command -v "$cmd" >/dev/null || missing+=("the command $cmd")
done
((${#missing[@]} == 0)) ||
  die "missing: ${missing[*]}; scripts/install-test-tools.sh installs them (as root), or: apt-get install golang-go $REFLECT2_PKG"
go_version=$("$GO" env GOVERSION)
[[ $go_version == go1.19* ]] ||
  log "warning: built and measured with Debian's go1.19; $GO is $go_version"

rm -f "$STAMP"
mkdir -p "$CACHE/src" "$CACHE/debs" "$KUBE_BIN" "$WORK"

# ---------------------------------------------------------------- source package
ORIG=$CACHE/src/$KUBE_ORIG
orig_ok() {
  [[ -f $ORIG ]] && [[ $(sha256sum "$ORIG" | awk '{print $1}') == "$KUBE_ORIG_SHA256" ]]
}
if ! orig_ok; then
  ((EUID == 0)) || die "apt-get source needs root (APT::Sandbox::User=root); run as root"
  log "apt-get source $KUBE_SRC_PKG=$KUBE_DEB_VERSION (private APT_CONFIG, about 40 MB)"
  APTDIR=$CACHE/apt
  rm -rf "$APTDIR"
  mkdir -p "$APTDIR/lists/partial" "$APTDIR/parts"
  # deb-src entries for the machine's own deb entries (same mirrors, suites and keys).
  : >"$APTDIR/sources.list"
  if [[ -f /etc/apt/sources.list ]]; then
    sed -n 's/^[[:space:]]*deb[[:space:]]/deb-src /p' /etc/apt/sources.list >>"$APTDIR/sources.list"
  fi
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] && sed 's/^Types:.*/Types: deb-src/' "$f" >"$APTDIR/parts/${f##*/}"
  done
  for f in /etc/apt/sources.list.d/*.list; do
    [[ -f $f ]] && sed -n 's/^[[:space:]]*deb[[:space:]]/deb-src /p' "$f" >"$APTDIR/parts/${f##*/}"
  done
  if [[ ! -s $APTDIR/sources.list ]] && ! compgen -G "$APTDIR/parts/*" >/dev/null; then
    echo "deb-src http://deb.debian.org/debian bookworm main" >"$APTDIR/sources.list"
  fi
  cat >"$APTDIR/apt.conf" <<CONF
#clear APT::Update::Post-Invoke;
Dir::Etc::sourcelist "$APTDIR/sources.list";
Dir::Etc::sourceparts "$APTDIR/parts";
Dir::State::Lists "$APTDIR/lists";
CONF
  APT_CONFIG="$APTDIR/apt.conf" apt_get update -qq -o APT::Sandbox::User=root ||
    die "apt-get update of the deb-src indexes failed (is Debian's archive reachable?)"
  rm -f "$CACHE"/src/*
  (cd "$CACHE/src" && APT_CONFIG="$APTDIR/apt.conf" apt_get source --download-only -qq \
    -o APT::Sandbox::User=root "$KUBE_SRC_PKG=$KUBE_DEB_VERSION") ||
    die "apt-get source $KUBE_SRC_PKG=$KUBE_DEB_VERSION failed (is it still in Debian's archive?)"
  orig_ok || die "$ORIG does not have the pinned SHA-256 $KUBE_ORIG_SHA256"
fi

# ---------------------------------------------------------------- etcd-server .deb
etcd_deb() { compgen -G "$CACHE/debs/etcd-server_*.deb" | head -n1; }
if [[ -z $(etcd_deb) || $(dpkg-deb -f "$(etcd_deb)" Version) != "$ETCD_DEB_VERSION" ]]; then
  log "apt-get download etcd-server=$ETCD_DEB_VERSION"
  rm -f "$CACHE"/debs/etcd-server_*.deb
  etcd_download() {
    (cd "$CACHE/debs" && apt_get download -qq -o APT::Sandbox::User=root "etcd-server=$ETCD_DEB_VERSION")
  }
  if ! etcd_download; then
    ((EUID == 0)) && apt_get update -qq
    etcd_download || die "apt-get download etcd-server=$ETCD_DEB_VERSION failed (is Debian's archive reachable?)"
  fi
fi
rm -rf "$KUBE_ROOT/etcd-server"
dpkg-deb -x "$(etcd_deb)" "$KUBE_ROOT/etcd-server"
ln -sf ../etcd-server/usr/bin/etcd "$KUBE_BIN/etcd"
"$KUBE_BIN/etcd" --version >/dev/null || die "the unpacked etcd does not run"

# ---------------------------------------------------------------- the tree
GP=$WORK/gopath
TREE=$GP/src/k8s.io/kubernetes
log "unpacking $KUBE_ORIG"
rm -rf "$GP"
mkdir -p "$TREE"
tar -xzf "$ORIG" -C "$TREE" --strip-components=1
[[ -f $TREE/cmd/kube-apiserver/apiserver.go ]] || die "$KUBE_ORIG has no cmd/kube-apiserver"
rm -rf "$TREE/vendor/github.com/modern-go/reflect2"
cp -r "$REFLECT2_SRC" "$TREE/vendor/github.com/modern-go/reflect2"
rm -f "$TREE/vendor/github.com/modern-go/reflect2/go.mod" "$TREE/vendor/github.com/modern-go/reflect2/go.sum"

# GOPATH mode as Debian's own debian/rules builds it: module mode refuses the vendor tree.
export GO111MODULE=off GOPROXY=off GOFLAGS='' GOENV=off CGO_ENABLED=0 GOPATH=$GP GOCACHE=$CACHE/gocache
cd "$TREE"

# ---------------------------------------------------------------- openapi
# The tarball lacks pkg/generated/openapi/zz_generated.openapi.go: generate it as upstream's
# Makefile.generated_files does, for every package that asks with a +k8s:openapi-gen= tag, and
# keep it in the cache (it depends on the source alone; generating takes a minute or two).
# openapi-gen is built without -trimpath and run with GOROOT set: its go/build needs GOROOT.
OPENAPI=$CACHE/openapi/$KUBE_DEB_VERSION-recipe$RECIPE.go
if [[ ! -s $OPENAPI ]]; then
  log "generating pkg/generated/openapi (openapi-gen)"
  "$GO" build -o "$WORK/openapi-gen" ./vendor/k8s.io/kube-openapi/cmd/openapi-gen
  # vendor/k8s.io/* are symlinks into staging/: named on the command line, grep -r follows them.
  mapfile -t openapi_dirs < <(
    grep -rl --include='*.go' '+k8s:openapi-gen=' cmd pkg plugin vendor/k8s.io/* |
      grep -v -e '^vendor/k8s.io/code-generator/' -e '^vendor/k8s.io/sample-apiserver/' \
        -e '/testdata/' -e '/examples/' |
      xargs -n1 dirname | LC_ALL=C sort -u |
      sed -e 's|^vendor/||' -e '/^k8s.io\//!s|^|k8s.io/kubernetes/|'
  )
  ((${#openapi_dirs[@]} > 50)) || die "found only ${#openapi_dirs[@]} packages with +k8s:openapi-gen= tags"
  input_dirs=$(IFS=,; echo "${openapi_dirs[*]}")
  GOROOT=$("$GO" env GOROOT) "$WORK/openapi-gen" \
    --input-dirs "$input_dirs" \
    --output-package k8s.io/kubernetes/pkg/generated/openapi \
    --output-file-base zz_generated.openapi \
    --go-header-file hack/boilerplate/boilerplate.generatego.txt \
    --output-base "$GP/src" \
    --report-filename "$WORK/api-rules.report" >"$WORK/openapi-gen.log" 2>&1 ||
    { tail -n 30 "$WORK/openapi-gen.log" >&2; die "openapi-gen failed (log: $WORK/openapi-gen.log)"; }
  [[ -s pkg/generated/openapi/zz_generated.openapi.go ]] || die "openapi-gen wrote no zz_generated.openapi.go"
  # Upstream keeps the API-rule violations its generator reports; the same list means the same
  # packages were generated.
  cmp -s "$WORK/api-rules.report" api/api-rules/violation_exceptions.list ||
    die "openapi-gen's API-rule report differs from upstream's api/api-rules/violation_exceptions.list" \
      "(diff $WORK/api-rules.report): the generated OpenAPI is not upstream's"
  mkdir -p "${OPENAPI%/*}"
  cp pkg/generated/openapi/zz_generated.openapi.go "$OPENAPI.tmp"
  mv -f "$OPENAPI.tmp" "$OPENAPI"
else
  log "pkg/generated/openapi from the cache"
  cp "$OPENAPI" pkg/generated/openapi/zz_generated.openapi.go
fi

# ---------------------------------------------------------------- build
# The version upstream's hack/lib/version.sh stamps (kubectl version and /version show it).
ldflags="-s -w"
for pkg in k8s.io/kubernetes/vendor/k8s.io/component-base/version \
  k8s.io/kubernetes/vendor/k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=v$KUBE_UPSTREAM -X $pkg.gitMajor=1 -X $pkg.gitMinor=20"
  ldflags+=" -X $pkg.gitTreeState=archive"
done
for cmd in kube-apiserver kube-controller-manager; do
  log "go build $cmd (about 5 minutes on 2 cores the first time; seconds with the cache in $CACHE/gocache)"
  "$GO" build -trimpath -ldflags="$ldflags" -o "$KUBE_BIN/$cmd.new" "k8s.io/kubernetes/cmd/$cmd"
  mv -f "$KUBE_BIN/$cmd.new" "$KUBE_BIN/$cmd"
done
version=$("$KUBE_BIN/kube-apiserver" --version)
[[ $version == "Kubernetes v$KUBE_UPSTREAM" ]] || die "kube-apiserver --version says '$version', not v$KUBE_UPSTREAM"

# The tree is only needed to build (about 0.5 GB): a rebuild unpacks it again.
cd "$ROOT"
rm -rf "$GP"
echo "$STAMP_TEXT" >"$STAMP"
log "kube-apiserver and kube-controller-manager $KUBE_UPSTREAM, $("$KUBE_BIN/etcd" --version | awk 'NR == 1')" \
  "in ${KUBE_BIN#"$ROOT"/} ($((SECONDS - START_SECONDS))s)"
