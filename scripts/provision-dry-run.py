#!/usr/bin/env python3
"""Provisioning dry run: every step of packer/build.pkr.hcl, in its order, in a sandbox whose
commands are only those Photon OS 5 minimal has, so a script that uses a command before a
package brings it fails here instead of 40 minutes into a real build.

The sandbox (bubblewrap, its own mount, PID, network and UTS namespaces; no network) has its own
`/` with `/usr/bin` holding exactly the available commands: Photon 5 minimal's
(packer/tests/photon5-minimal-commands.txt), plus those of each package `tdnf install` adds
(packer/tests/photon5-package-commands.json), minus those `tdnf remove` takes away. Each is the
host's binary of that name, or a stub for commands that would act on a machine: tdnf, rpm,
systemctl, k3s (fetched by the scripts from bom.json), curl (answers from local files: the
Knative release manifests in ../shared/reference/upstream, stand-ins for k3s and Contour's two
files from packer/tests/upstream-workloads.json),
dd, umount, ip, journalctl, usermod, dracut. Stubs record their calls. A command that does not exist is
reported by bash's command_not_found_handle even where the script tolerates the failure (an
`if cmp ...` with no cmp). What a real machine would also refuse is refused: starting k3s after
`tdnf update` without a reboot (the running kernel's modules are gone), exporting images into
k3s's watched agent/images folder while k3s runs, a payload in /tmp across the reboot, a file
step right after the reboot, package repositories on a host other than bom.json's
photon.repo_host, an exported image archive with a name k3s cannot re-tag or without the
references the manifests use (scripts/check-image-names.py on what the ctr stub exports, an OCI
archive named as ctr names it). Every command the scripts use is recorded with its package: once removing docker
or cloud-init has taken the minimal metapackage away, a command whose package neither the build
names (http/ks.json, tdnf install) nor a named package requires (photon5-package-commands.json
_held) fails the run.

  provision-dry-run.py [--packer DIR] [--keep DIR] [--reference DIR]

Exit 0 when every step passed; 1 with the failing step, script and missing command otherwise.
With --keep, the sandbox's root and its call log (run/dry-run/calls.log) stay in DIR.
"""
import argparse
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hcl_blocks import blocks, strings  # noqa: E402
import upstream_workloads  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOST_BIN_DIRS = ["/usr/bin", "/usr/sbin", "/bin", "/sbin"]
STATE = "/run/dry-run"  # inside the sandbox
VARS = {"var.version": "0.0.0-dryrun", "var.commit": "dryrun", "var.bom_strict ? 1 : 0": "0"}

# Stubs, run by the host's bash inside the sandbox. $S is the state folder.
STUB_HEAD = """#!/.host/usr/bin/bash
unset -f command_not_found_handle
S=%s
PATH=/.host/usr/bin:/.host/usr/sbin
printf '%%s\\n' "$(basename "$0") $*" >>"$S/calls.log"
if [[ -e $S/minimal-gone ]]; then
  _pkg=
  while read -r _c _p; do [[ $_c == "${0##*/}" ]] && { _pkg=$_p; break; }; done <"$S/cmd-pkg"
  if [[ -n $_pkg ]] && ! grep -qxF "$_pkg" "$S/named" "$S/held"; then
    printf '%%s %%s\\n' "$(basename "$0")" "$_pkg" >>"$S/leftover-used"
  fi
fi
""" % STATE

STUBS = {
    "tdnf": r"""
cmd=
pkgs=()
for a in "$@"; do
  case $a in -y|-q|--refresh|--nogpgcheck) ;; -*) ;; *) if [[ -z $cmd ]]; then cmd=$a; else pkgs+=("$a"); fi ;; esac
done
# The repositories: an enabled one answers only when its baseurl's host is bom.json's
# photon.repo_host ($S/repo-host); any other host is gone (the sandbox has no network, as
# packages.vmware.com has no Photon any more). tdnf disables a silent repository when it has
# skip_if_unavailable=1 and fails otherwise (vmware/tdnf v3.5.2, client/init.c).
repos_answer() {
  local f val url host skip answering=0 want
  want=$(cat "$S/repo-host")
  for f in /etc/yum.repos.d/*.repo; do
    [[ -e $f ]] || continue
    val=$(sed -nE 's/^[[:space:]]*enabled[[:space:]]*=[[:space:]]*([^[:space:]]*).*/\1/p' "$f" | tail -n1)
    [[ $val =~ ^(1|[Tt]rue|[Yy]es)$ ]] || continue
    url=$(sed -nE 's/^[[:space:]]*baseurl[[:space:]]*=[[:space:]]*([^[:space:]]*).*/\1/p' "$f" | head -n1)
    skip=$(sed -nE 's/^[[:space:]]*skip_if_unavailable[[:space:]]*=[[:space:]]*([^[:space:]]*).*/\1/p' "$f" | tail -n1)
    host=$(sed -nE 's#^https?://([^/]+)/.*#\1#p' <<<"$url")
    if [[ -n $want && $host == "$want" ]]; then
      answering=$((answering + 1))
    elif [[ $skip =~ ^(1|[Tt]rue|[Yy]es)$ ]]; then
      echo "tdnf (dry run): ${f##*/}: $url does not answer (only bom.json's photon.repo_host ${want:-(none)} does): Disabling Repo" >&2
    else
      echo "tdnf (dry run): ${f##*/}: Failed to synchronize cache: $url does not answer (only bom.json's photon.repo_host ${want:-(none)} does)" >&2
      return 1
    fi
  done
  ((answering > 0)) || { echo "tdnf (dry run): $cmd: no enabled repository answers: nothing can be updated or installed" >&2; return 1; }
}
case $cmd in
  update|upgrade|install|makecache) repos_answer || exit 1 ;;
esac
case $cmd in
  update|upgrade)
    # The update brings a newer kernel (Photon 5.0 GA's is 6.1.10-11.ph5).
    ((${#pkgs[@]})) || { touch "$S/kernel-updated"; : >/boot/vmlinuz-6.1.10-99.ph5; } ;;
  install)
    for p in "${pkgs[@]}"; do
      [[ -f $S/packages/$p ]] || { echo "tdnf (dry run): package $p is not in packer/tests/photon5-package-commands.json: add its commands there" >&2; exit 1; }
      while read -r c; do [[ -n $c ]] && cp -P "$S/pool/$c" "/usr/bin/$c"; done <"$S/packages/$p"
      grep -qx "$p" "$S/installed" || echo "$p" >>"$S/installed"
      grep -qx "$p" "$S/named" || echo "$p" >>"$S/named"
    done ;;
  remove|erase)
    for p in "${pkgs[@]}"; do
      grep -qx "$p" "$S/installed" || { echo "tdnf (dry run): package $p is not installed" >&2; exit 1; }
      # The minimal metapackage requires it: tdnf removes minimal too, and what only minimal
      # required stays installed as a leftover nothing asked for.
      if grep -qx "$p" "$S/minimal-requires" && [[ ! -e $S/minimal-gone ]]; then
        touch "$S/minimal-gone"
        grep -vx minimal "$S/named" >"$S/named.new" || true
        mv "$S/named.new" "$S/named"
        echo "tdnf (dry run): removing $p removes the minimal metapackage, which requires it" >&2
      fi
      grep -vx "$p" "$S/named" >"$S/named.new" || true
      mv "$S/named.new" "$S/named"
      [[ -f $S/packages/$p ]] && while read -r c; do [[ -n $c ]] && rm -f "/usr/bin/$c"; done <"$S/packages/$p"
      grep -vx "$p" "$S/installed" >"$S/installed.new" || true
      mv "$S/installed.new" "$S/installed"
    done ;;
  clean|makecache|list|info|repolist) ;;
  *) echo "tdnf (dry run): unknown command $cmd" >&2; exit 1 ;;
esac
""",
    "rpm": r"""
[[ $1 == -q ]] || { echo "rpm (dry run): only rpm -q is modelled" >&2; exit 1; }
shift
for p in "$@"; do grep -qx "$p" "$S/installed" || { echo "package $p is not installed"; exit 1; }; done
""",
    "systemctl": r"""
args=()
for a in "$@"; do case $a in --now|--quiet|-q|--no-block) ;; *) args+=("$a") ;; esac; done
case ${args[0]:-} in
  start|restart)
    if [[ ${args[1]:-} == k3s* ]]; then
      if [[ -e $S/kernel-updated ]]; then
        echo "systemctl (dry run): k3s cannot start: tdnf update replaced the kernel and removed the running kernel's modules (overlay, br_netfilter); reboot first" >&2
        exit 1
      fi
      [[ -x /usr/local/bin/k3s ]] || { echo "systemctl (dry run): k3s.service has no /usr/local/bin/k3s" >&2; exit 1; }
      touch "$S/k3s-running"
    fi ;;
  stop)
    [[ ${args[1]:-} == k3s* ]] && rm -f "$S/k3s-running" ;;
  reboot|poweroff)
    touch "$S/rebooted" ;;
  *) ;;
esac
""",
    "curl": r"""
out= url=
while (($#)); do
  case $1 in -o|--output) out=$2; shift ;; https://*|http://*) url=$1 ;; esac
  shift
done
[[ -n $out && -n $url ]] || { echo "curl (dry run): expected --output FILE URL" >&2; exit 2; }
src=
while IFS=$'\t' read -r u f; do [[ $u == "$url" ]] && src=$f; done <"$S/urls.tsv"
[[ -n $src ]] || { echo "curl (dry run): $url is not a known download" >&2; exit 22; }
cp "$src" "$out"
""",
    "dd": "",
    "umount": "",
    "mount": "",
    "ip": "",
    "journalctl": "",
    "usermod": "",
    "chage": "",
    "reboot": 'touch "$S/rebooted"\n',
    "shutdown": "",
    "sync": "",
    "hostnamectl": "",
    "sysctl": "",
    "modprobe": "",
    "dracut": "",
}

# The k3s binary the curl stub serves: what the scripts ask of k3s and its containerd.
K3S = STUB_HEAD + r"""
name=$(basename "$0")
[[ $name == k3s ]] || set -- "$name" "$@"
case $1 in
  --version) echo "k3s version v0.0.0-dryrun" ;;
  ctr)
    shift
    [[ -e $S/k3s-running ]] || { echo "ctr (dry run): containerd is not running (systemctl start k3s)" >&2; exit 1; }
    args=()
    for a in "$@"; do case $a in -n|--namespace) skip=1 ;; --platform) skip=1 ;; --force) ;; *) if [[ -n ${skip:-} ]]; then skip=; else args+=("$a"); fi ;; esac; done
    case "${args[0]:-} ${args[1]:-}" in
      "version "*) echo "containerd dry run" ;;
      "images pull") echo "${args[2]}" >>"$S/pulled" ;;
      "images tag")
        grep -qxF "${args[2]}" "$S/pulled" || { echo "ctr (dry run): ${args[2]} was not pulled" >&2; exit 1; }
        printf '%s %s\n' "${args[3]}" "${args[2]}" >>"$S/tags" ;;
      "images export")
        file=${args[2]}
        case $(realpath -m "$file") in
          /var/lib/rancher/k3s/agent/images/*)
            echo "ctr (dry run): exporting into $file while k3s runs: its watcher imports the half-written tarball (k3s-io/k3s pkg/agent/containerd/watcher.go)" >&2
            exit 1 ;;
        esac
        # An OCI archive as ctr writes it: one index.json entry per name, named by the
        # io.containerd.image.name annotation (containerd/containerd,
        # core/images/archive/exporter.go), its digest the image's (the pulled reference's).
        layout=$(mktemp -d)
        printf '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"
        printf '[]' >"$layout/entries.json"
        for ref in "${args[@]:3}"; do
          src=$ref
          if ! grep -qxF "$ref" "$S/pulled"; then
            src=
            while read -r tag from; do [[ $tag == "$ref" ]] && src=$from; done < <(cat "$S/tags" 2>/dev/null)
            [[ -n $src ]] || { echo "ctr (dry run): $ref was neither pulled nor tagged" >&2; exit 1; }
          fi
          if [[ $src == *@sha256:* ]]; then digest=sha256:${src##*@sha256:}; else digest=sha256:$(printf '%s' "$src" | sha256sum | cut -d' ' -f1); fi
          jq --arg n "$ref" --arg d "$digest" '. + [{mediaType: "application/vnd.oci.image.index.v1+json", digest: $d, size: 0, annotations: {"io.containerd.image.name": $n}}]' \
            "$layout/entries.json" >"$layout/entries.new" && mv "$layout/entries.new" "$layout/entries.json"
        done
        jq '{schemaVersion: 2, manifests: .}' "$layout/entries.json" >"$layout/index.json"
        rm "$layout/entries.json"
        tar -cf "$file" -C "$layout" .
        rm -rf "$layout" ;;
      *) echo "ctr (dry run): ${args[*]} is not modelled" >&2; exit 1 ;;
    esac ;;
  kubectl|crictl) ;;
  *) echo "k3s (dry run): $* is not modelled" >&2; exit 1 ;;
esac
"""

BASHENV = """command_not_found_handle() {
  printf '%%s\\n' "$1" >>%s/missing
  printf 'dry run: %%s: command not found (Photon 5 minimal does not have it, and no earlier tdnf install brought it)\\n' "$1" >&2
  return 127
}
""" % STATE


# /etc/yum.repos.d of a Photon 5.0 GA install: (file, baseurl path or URL, enabled).
GA_REPOS = [
    ("photon", "photon_$releasever_$basearch", 0),
    ("photon-updates", "photon_updates_$releasever_$basearch", 1),
    ("photon-release", "photon_release_$releasever_$basearch", 0),
    ("photon-debuginfo", "photon_debuginfo_$releasever_$basearch", 0),
    ("photon-srpms", "photon_srpms_$releasever_$basearch", 0),
    ("photon-iso", "file:///mnt/cdrom/RPMS", 0),
]


class DryRunError(Exception):
    pass


def hcl_list(body, name):
    return strings(body, name)


def hcl_str(body, name):
    m = re.search(r"^\s*" + name + r'\s*=\s*"([^"]*)"', body, re.M)
    return m.group(1) if m else None


def resolve(s, values):
    def sub(m):
        key = m.group(1).strip()
        if key.startswith("local.bom.") and "bom" in values:
            node = values["bom"]
            for part in key.split(".")[2:]:
                if not isinstance(node, dict) or part not in node:
                    raise DryRunError(f"cannot resolve ${{{key}}}: bom.json has no {part}")
                node = node[part]
            return str(node)
        if key not in values:
            raise DryRunError(f"cannot resolve ${{{key}}} in {s!r}")
        return values[key]
    return re.sub(r"\$\{([^}]*)\}", sub, s)


def steps(packer):
    """The provisioners of build.pkr.hcl in order: ('shell', env, [scripts] | None, [inline] | None,
    pause_before) or ('file', source, destination, pause_before)."""
    text = open(os.path.join(packer, "build.pkr.hcl"), encoding="utf-8").read()
    sources = open(os.path.join(packer, "sources.pkr.hcl"), encoding="utf-8").read()
    values = dict(VARS)
    values["bom"] = json.load(open(os.path.join(packer, "bom.json"), encoding="utf-8"))
    values["path.root"] = packer
    values["var.artifacts_dir"] = "ARTIFACTS"
    for m in re.finditer(r'^\s*(\w+)\s*=\s*"([^"$]*)"', sources, re.M):
        values.setdefault("local." + m.group(1), m.group(2))
    out = []
    m = re.search(r"^build\s*\{", text, re.M)
    if not m:
        raise DryRunError("build.pkr.hcl has no build block")
    for kind, body in blocks(text[m.end():], "provisioner"):
        if kind == "shell":
            env = [resolve(e, values) for e in (hcl_list(body, "environment_vars") or [])]
            scripts = [resolve(s, values) for s in (hcl_list(body, "scripts") or [])]
            script = hcl_str(body, "script")
            if script:
                scripts.append(resolve(script, values))
            inline = hcl_list(body, "inline")
            out.append(("shell", env, scripts, inline, hcl_str(body, "pause_before")))
        elif kind == "file":
            out.append(("file", resolve(hcl_str(body, "source"), values), resolve(hcl_str(body, "destination"), values),
                        hcl_str(body, "pause_before")))
        else:
            raise DryRunError(f"provisioner {kind!r} is not modelled by the dry run")
    return out


def host_binary(cmd):
    for d in HOST_BIN_DIRS:
        p = os.path.join(d, cmd)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            real = os.path.realpath(p)
            if real.startswith("/usr/bin/") or real.startswith("/usr/sbin/"):
                return real
    return None


def write_exec(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(path, 0o755)


def prepare(sb, packer, reference):
    """The sandbox's root, its command pool and state; returns (root, payload.tar.gz)."""
    root = os.path.join(sb, "root")
    state = root + STATE
    for d in ["usr/bin", "usr/local/bin", "etc/ssh", "etc/systemd/system", "var/lib", "var/log", "tmp", "root",
              "run", "dev", "proc", ".host/usr/bin", ".host/usr/sbin", "usr/lib", "usr/lib64", "usr/share"]:
        os.makedirs(os.path.join(root, d), exist_ok=True)
    for link, target in [("bin", "usr/bin"), ("sbin", "usr/bin"), ("lib", "usr/lib"), ("lib64", "usr/lib64"),
                         ("usr/sbin", "bin")]:
        os.symlink(target, os.path.join(root, link))
    for d in ["pool", "packages"]:
        os.makedirs(os.path.join(state, d))
    tests = os.path.join(packer, "tests")
    minimal = [l.strip() for l in open(os.path.join(tests, "photon5-minimal-commands.txt"), encoding="utf-8")
               if l.strip() and not l.startswith("#")]
    data = json.load(open(os.path.join(tests, "photon5-package-commands.json"), encoding="utf-8"))
    packages = data["packages"]
    minimal_pkgs = sorted(p for p, on in data["_in_project_ks_install"].items() if on)
    universe = set(minimal) | {c for cs in packages.values() for c in cs}
    # Which package each command comes from; which packages the build names (the kickstart's,
    # then each tdnf install); which stay because something the build names requires them.
    cmd_pkg = {}
    for p, cs in sorted(packages.items()):
        for c in cs:
            cmd_pkg.setdefault(c, p)
    with open(os.path.join(state, "cmd-pkg"), "w", encoding="utf-8") as f:
        f.writelines(f"{c} {p}\n" for c, p in sorted(cmd_pkg.items()))
    ks = json.load(open(os.path.join(packer, "http", "ks.json"), encoding="utf-8"))
    with open(os.path.join(state, "named"), "w", encoding="utf-8") as f:
        f.writelines(p + "\n" for p in ks.get("packages", []))
    with open(os.path.join(state, "held"), "w", encoding="utf-8") as f:
        f.writelines(p + "\n" for p in sorted(data["_held"]))
    with open(os.path.join(state, "minimal-requires"), "w", encoding="utf-8") as f:
        f.writelines(p + "\n" for p in data["_minimal_requires"])
    missing_on_host = []
    for cmd in sorted(universe):
        pool = os.path.join(state, "pool", cmd)
        if cmd in STUBS:
            write_exec(pool, STUB_HEAD + STUBS[cmd])
        else:
            real = host_binary(cmd)
            if real:
                # A wrapper that records the use, so the end of the run can name the package of
                # every command the scripts used.
                pkg = cmd_pkg.get(cmd, "?")
                write_exec(pool, f'#!/.host/usr/bin/bash\nS={STATE}\nprintf "%s\\n" {cmd} >>$S/used\n'
                                 f'if [[ -e $S/minimal-gone ]] && ! /.host/usr/bin/grep -qxF {pkg} $S/named $S/held; then\n'
                                 f'  printf "%s %s\\n" {cmd} "{pkg}" >>$S/leftover-used\nfi\n'
                                 f'exec -a "$0" /.host{real} "$@"\n')
            else:
                missing_on_host.append(cmd)
                write_exec(pool, STUB_HEAD + f'echo "dry run: {cmd} exists on Photon but not on this host" >&2\nexit 127\n')
    for p, cs in packages.items():
        with open(os.path.join(state, "packages", p), "w", encoding="utf-8") as f:
            f.write("".join(c + "\n" for c in cs))
    for cmd in minimal:
        shutil.copy(os.path.join(state, "pool", cmd), os.path.join(root, "usr/bin", cmd), follow_symlinks=False)
    with open(os.path.join(state, "installed"), "w", encoding="utf-8") as f:
        f.write("".join(p + "\n" for p in minimal_pkgs))
    open(os.path.join(state, "calls.log"), "w").close()
    open(os.path.join(state, "pulled"), "w").close()
    with open(os.path.join(state, "bashenv"), "w", encoding="utf-8") as f:
        f.write(BASHENV)
    # /etc as a fresh install has it, for what the scripts edit.
    etc = os.path.join(root, "etc")
    with open(os.path.join(etc, "ssh/sshd_config"), "w") as f:
        f.write("PermitRootLogin yes\nSubsystem sftp /usr/libexec/sftp-server\n")
    # The installed kernel (vmware/photon 5.0-GA SPECS/linux/linux.spec: 6.1.10-11).
    os.makedirs(os.path.join(root, "boot"), exist_ok=True)
    open(os.path.join(root, "boot", "vmlinuz-6.1.10-11.ph5"), "w").close()
    with open(os.path.join(etc, "machine-id"), "w") as f:
        f.write("0123456789abcdef0123456789abcdef\n")
    with open(os.path.join(etc, "os-release"), "w") as f:
        f.write('NAME="VMware Photon OS"\nVERSION="5.0"\nID=photon\n')
    # The package repositories as the 5.0 GA install has them (vmware/photon 5.0-GA,
    # SPECS/photon-repos/*.repo; only photon-updates is enabled).
    os.makedirs(os.path.join(etc, "yum.repos.d"))
    for name, path, enabled in GA_REPOS:
        url = path if path.startswith("file:") else f"https://packages.vmware.com/photon/$releasever/{path}"
        with open(os.path.join(etc, "yum.repos.d", name + ".repo"), "w") as f:
            f.write(f"[{name}]\nname=VMware Photon Linux $releasever ($basearch)\nbaseurl={url}\n"
                    f"gpgcheck=1\nenabled={enabled}\nskip_if_unavailable=1\n")
    for name in ["passwd", "group", "ld.so.cache", "nsswitch.conf"]:
        if os.path.exists("/etc/" + name):
            shutil.copy("/etc/" + name, os.path.join(etc, name))

    # Downloads: the Knative manifests as released, stand-ins for k3s, its images and Contour's files.
    files = os.path.join(state, "files")
    os.makedirs(files)
    write_exec(os.path.join(files, "k3s"), K3S)
    with open(os.path.join(files, "k3s-airgap-images.tar.zst"), "wb") as f:
        f.write(b"dry run: k3s airgap images\n")
    for name in upstream_workloads.load()["contour"]["sha256"]:
        with open(os.path.join(files, name + ".yaml"), "w") as f:
            f.write(upstream_workloads.contour_standin(name))
    bom = json.load(open(os.path.join(packer, "bom.json"), encoding="utf-8"))
    with open(os.path.join(state, "repo-host"), "w") as f:
        f.write(bom.get("photon", {}).get("repo_host", ""))
    urls = []
    for section in ("k3s", "knative"):
        for entry in bom[section]["files"]:
            name = entry["name"]
            ref = os.path.join(reference, name + ".yaml")
            if section == "knative" and os.path.exists(ref):
                local = os.path.join(files, name + ".yaml")
                shutil.copy(ref, local)  # its pinned sha256 is checked by fetch.sh as is
            else:
                stand_in = {"k3s": "k3s", "k3s-airgap-images": "k3s-airgap-images.tar.zst"}
                local = os.path.join(files, stand_in.get(name, name + ".yaml"))
                if not os.path.exists(local):
                    raise DryRunError(f"bom.json's {section} file {name} has no dry-run stand-in")
                # A stand-in cannot have the real digest: pin the stand-in's in the payload's copy.
                entry["sha256"] = hashlib.sha256(open(local, "rb").read()).hexdigest()
            urls.append(f"{entry['url']}\t{local[len(root):]}\n")
    with open(os.path.join(state, "urls.tsv"), "w") as f:
        f.writelines(urls)
    bom_path = os.path.join(sb, "bom.json")
    with open(bom_path, "w") as f:
        json.dump(bom, f, indent=2)

    # The payload, assembled by the same script as the real build's, with stand-in binaries.
    art = os.path.join(sb, "artifacts")
    os.makedirs(art)
    fb = os.path.join(art, "firstboot")
    write_exec(fb, "#!/.host/usr/bin/bash\necho 'firstboot 0.0.0-dryrun'\n")
    image = os.path.join(art, "event-router.tar")
    open(image, "wb").close()
    payload = os.path.join(art, "payload.tar.gz")
    env = dict(os.environ)
    run(["bash", os.path.join(ROOT, "scripts/ova-payload.sh"), payload, fb, image], env)
    # Swap in the dry-run bom.json (stand-ins pinned).
    unpack = os.path.join(art, "p")
    os.makedirs(unpack)
    run(["tar", "-xzf", payload, "-C", unpack], env)
    shutil.copy(bom_path, os.path.join(unpack, "bom.json"))
    run(["tar", "-czf", payload, "-C", unpack, "."], env)
    shutil.rmtree(unpack)
    return root, payload, missing_on_host


def run(argv, env):
    r = subprocess.run(argv, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        raise DryRunError(f"{' '.join(argv)} failed: {r.stderr.strip()}")


def bwrap(root, argv, env):
    cmd = ["bwrap", "--bind", root, "/", "--dev", "/dev", "--proc", "/proc",
           "--ro-bind", "/usr/lib", "/usr/lib", "--ro-bind", "/usr/share", "/usr/share",
           "--ro-bind", "/usr/bin", "/.host/usr/bin", "--ro-bind", "/usr/sbin", "/.host/usr/sbin",
           "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--die-with-parent",
           "--chdir", "/root", "--clearenv"]
    if os.path.isdir("/usr/lib64"):
        cmd += ["--ro-bind", "/usr/lib64", "/usr/lib64"]
    for k, v in env.items():
        cmd += ["--setenv", k, v]
    return subprocess.run(cmd + argv, capture_output=True, text=True, timeout=600)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--packer", default=os.path.join(ROOT, "packer"))
    ap.add_argument("--keep", help="leave the sandbox in this folder")
    ap.add_argument("--reference", default=os.path.join(ROOT, "..", "shared", "reference", "upstream",
                                                        "knative-v1.20.0"))
    a = ap.parse_args()
    if shutil.which("bwrap") is None:
        print("error: bwrap is not installed (Debian: bubblewrap; scripts/install-test-tools.sh installs it)",
              file=sys.stderr)
        return 2
    packer = os.path.abspath(a.packer)
    sb = a.keep or tempfile.mkdtemp(prefix="dry-run-")
    if a.keep:
        if os.path.exists(sb):
            shutil.rmtree(sb)
        os.makedirs(sb)
    try:
        root, payload, missing_on_host = prepare(sb, packer, os.path.abspath(a.reference))
        if missing_on_host:
            print(f"note: {len(missing_on_host)} Photon commands are not on this host (stubs that fail if used)")
        state = root + STATE
        base_env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root",
                    "BASH_ENV": STATE + "/bashenv", "LANG": "C"}
        n = 0
        rebooted = False
        for step in steps(packer):
            n += 1
            if rebooted:
                # The step after a reboot meets a VM that is going down or still booting. Only a
                # shell provisioner retries (uploading and starting each script until
                # start_retry_timeout, 5 minutes by default: hashicorp/packer,
                # provisioner/shell/provisioner.go); the file provisioner uploads once
                # (provisioner/file/provisioner.go) and the SSH communicator reconnects once
                # (hashicorp/packer-plugin-sdk, sdk-internals/communicator/ssh/communicator.go).
                if step[0] != "shell":
                    raise DryRunError(f"step {n}: a {step[0]} provisioner right after the reboot gets one reconnect "
                                      "attempt while the VM boots: upload before the reboot, or follow it with a "
                                      "shell step (it retries until start_retry_timeout)")
                if not step[-1]:
                    raise DryRunError(f"step {n}: the shell step after the reboot has no pause_before: it can reach "
                                      "sshd before the reboot stops it and be cut off mid-script")
                rebooted = False
            if step[0] == "file":
                _, src, dest, _ = step
                if src != "ARTIFACTS/payload.tar.gz":
                    raise DryRunError(f"step {n}: file provisioner uploads {src}, which the dry run does not know")
                target = root + dest
                os.makedirs(os.path.dirname(target), exist_ok=True)
                shutil.copy(payload, target)
                print(f"step {n}: file -> {dest}")
                continue
            _, env_list, scripts, inline, _ = step
            env = dict(base_env)
            for e in env_list:
                k, _, v = e.partition("=")
                env[k] = v
            runs = []
            for s in scripts:
                dest = "/tmp/script-" + os.path.basename(s)
                shutil.copy(s, root + dest)
                runs.append((os.path.relpath(s, packer), ["/usr/bin/bash", dest]))
            for line in inline or []:
                runs.append((f"inline: {line}", ["/usr/bin/bash", "-c", line]))
            for name, argv in runs:
                if not os.path.lexists(root + "/usr/bin/bash"):
                    raise DryRunError(f"step {n}: {name}: bash is not installed in the sandbox")
                r = bwrap(root, argv, env)
                missing = []
                if os.path.exists(state + "/missing"):
                    missing = sorted(set(open(state + "/missing").read().split()))
                    os.remove(state + "/missing")
                if os.path.exists(state + "/leftover-used") and r.returncode == 0 and not missing:
                    used = sorted(set(open(state + "/leftover-used").read().splitlines()))
                    os.remove(state + "/leftover-used")
                    raise DryRunError(
                        f"step {n}: {name} uses {', '.join(f'{c} ({p})' for c, p in (u.split(' ', 1) for u in used))}, "
                        "which only the minimal metapackage asked for: removing docker or cloud-init removed minimal "
                        "(vmware/photon 5.0-GA SPECS/minimal/minimal.spec), and nothing the build names keeps them; "
                        "name the package in 00-packages.sh's tdnf install")
                if r.returncode != 0 or missing:
                    detail = (f"uses {', '.join(missing)} before any package brings it; " if missing else "")
                    tail = "\n".join((r.stdout + r.stderr).strip().splitlines()[-15:])
                    raise DryRunError(f"step {n}: {name} failed (exit {r.returncode}): {detail}output:\n{tail}")
                for arg in argv[1:]:
                    if arg.startswith("/tmp/script-"):
                        if os.path.lexists(root + arg):
                            os.remove(root + arg)
                print(f"step {n}: {name}: ok")
            if os.path.exists(state + "/rebooted"):
                # A reboot: /tmp is a tmpfs on Photon, and the new kernel is running.
                for entry in os.listdir(root + "/tmp"):
                    p = os.path.join(root + "/tmp", entry)
                    shutil.rmtree(p) if os.path.isdir(p) and not os.path.islink(p) else os.remove(p)
                for flag in ("rebooted", "kernel-updated", "k3s-running"):
                    if os.path.exists(os.path.join(state, flag)):
                        os.remove(os.path.join(state, flag))
                print(f"step {n}: reboot: /tmp emptied, the updated kernel runs")
                rebooted = True
        if os.path.exists(state + "/k3s-running"):
            raise DryRunError("k3s is still running after the last step: its state would be baked into the image")
        # The exported images under the names k3s will see (scripts/check-image-names.py).
        archive = root + "/var/lib/rancher/k3s/agent/images/knative-contour.tar"
        if os.path.exists(archive):
            r = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "check-image-names.py"), archive,
                                "--want-file", state + "/pulled"], capture_output=True, text=True)
            if r.returncode != 0:
                raise DryRunError(f"the exported images: {r.stderr.strip()}")
            print(f"exported images: {r.stdout.strip().splitlines()[-1]}")
        print(f"dry run passed: {n} provisioning steps on Photon 5 minimal's commands")
        return 0
    except DryRunError as e:
        print(f"dry run failed: {e}", file=sys.stderr)
        return 1
    finally:
        if not a.keep:
            shutil.rmtree(sb, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
