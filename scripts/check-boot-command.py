#!/usr/bin/env python3
"""Checks that packer's boot_command fits the boot loader the firmware starts on the Photon 5 ISO.

The Photon OS 5.0 GA ISO (vmware/photon 5.0, support/image-builder/iso/mk-install-iso.sh) boots
ISOLINUX on BIOS (`-b isolinux/isolinux.bin`) and GRUB on EFI (`-e boot/grub2/efiboot.img`):
  - BIOS: `<esc>` leaves ISOLINUX's menu for its `boot:` prompt, which takes a kernel file and
    its arguments on one line (`vmlinuz initrd=initrd.img ... ks=...`), as VEBA's build does.
  - EFI: `<esc>`, `c` opens GRUB's console, which takes `linux /isolinux/vmlinuz ...`,
    `initrd /isolinux/initrd.img` and `boot` (packer-examples-for-vsphere, photon/5).
Typing one loader's command into the other lands at a prompt that does not run the installer,
and packer waits for SSH until its timeout. Usage: check-boot-command.py packer/sources.pkr.hcl
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hcl_blocks import blocks, value as hcl_value  # noqa: E402


def sources(text):
    """Each `source "TYPE" "NAME" { ... }` block's type and body."""
    return blocks(text, "source")


def resolve(value, text):
    if value and value.startswith("local."):
        return hcl_value(text, value.split(".", 1)[1])
    return value


def loader(firmware, efi_boot):
    if firmware in ("efi", "efi-secure") or efi_boot == "true":
        return "grub"
    return "isolinux"


def command_kind(cmd):
    grub = re.search(r"<esc>.*c.*linux /isolinux/vmlinuz.*initrd /isolinux/initrd\.img.*boot", cmd, re.S)
    isolinux = re.search(r"^(<wait\d*>)*<esc>(<wait\d*>)*vmlinuz initrd=initrd\.img .*ks=\S+", cmd, re.S)
    if grub and not isolinux:
        return "grub"
    if isolinux and not grub:
        return "isolinux"
    return None


def main(path):
    text = open(path, encoding="utf-8").read()
    problems, seen = [], 0
    for kind, body in sources(text):
        seen += 1
        cmd = resolve(hcl_value(body, "boot_command"), text)
        if kind == "qemu":
            firmware, efi_boot = "bios", resolve(hcl_value(body, "efi_boot"), text) or "false"
        else:
            firmware, efi_boot = resolve(hcl_value(body, "firmware"), text) or "bios", "false"
        want = loader(firmware, efi_boot)
        got = command_kind(cmd or "")
        if got is None:
            problems.append(f"source {kind}: boot_command is neither an ISOLINUX `boot:` line nor a GRUB console sequence")
        elif got != want:
            problems.append(
                f"source {kind}: firmware {firmware!r} (efi_boot {efi_boot}) boots the Photon ISO's {want}, "
                f"but boot_command is typed for {got}: the installer would never start"
            )
        if "ks=http://{{ .HTTPIP }}:{{ .HTTPPort }}/ks.json" not in (cmd or ""):
            problems.append(f"source {kind}: boot_command does not load the kickstart from packer's HTTP server")
    if seen == 0:
        problems.append(f"{path}: no source blocks found")
    for p in problems:
        print(f"{path}: {p}", file=sys.stderr)
    if problems:
        return 1
    print(f"boot_command fits the firmware of all {seen} sources")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: check-boot-command.py packer/sources.pkr.hcl", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
