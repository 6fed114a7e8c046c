#!/usr/bin/env python3
"""Checks packer/plugins.pkr.hcl offline: every required plugin pinned to one exact version (a
`>=` range lets `packer init` take whatever is newest, as vmware/packer-plugin-vsphere#652's
reporters found when v2.0.1 broke template builds), from the source it is published under now,
and not at a version known to break this template.

  check-plugin-pins.py packer/plugins.pkr.hcl
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hcl_blocks import value  # noqa: E402

# The builders this template uses, and where each plugin is published.
SOURCES = {
    # The vSphere plugin's repository moved from hashicorp to vmware (vmware/packer-plugin-vsphere);
    # kubernetes-sigs/image-builder changed its source to github.com/vmware/vsphere.
    "vsphere": "github.com/vmware/vsphere",
    "qemu": "github.com/hashicorp/qemu",
}
# Versions that break this template: vSphere 2.0.1 (template builds, vmware/packer-plugin-vsphere#652).
BROKEN = {("vsphere", "2.0.1"): "breaks template builds (vmware/packer-plugin-vsphere#652)"}


def main(path):
    text = open(path, encoding="utf-8").read()
    problems = []
    for name, source in SOURCES.items():
        m = re.search(r"^\s*" + name + r"\s*=\s*\{(.*?)\}", text, re.M | re.S)
        if not m:
            problems.append(f"{name}: not in required_plugins (the template builds with it)")
            continue
        version, got_source = value(m.group(1), "version"), value(m.group(1), "source")
        pinned = re.fullmatch(r"=?\s*v?(\d+\.\d+\.\d+)", version or "")
        if not pinned:
            problems.append(f"{name}: version {version!r} is a range: pin the tested version (= x.y.z)")
        elif (name, pinned.group(1)) in BROKEN:
            problems.append(f"{name}: {pinned.group(1)} {BROKEN[(name, pinned.group(1))]}")
        if got_source != source:
            problems.append(f"{name}: source {got_source!r}, but the plugin is published as {source}")
    for p in problems:
        print(f"{path}: {p}", file=sys.stderr)
    if problems:
        return 1
    print(f"{path}: every plugin pinned to one version from its current source")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: check-plugin-pins.py packer/plugins.pkr.hcl", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
