# Plugins for current packer (>= 1.7): `packer init packer/` installs exactly these versions, which
# the OVA workflow's first job validates the whole template with (scripts/check-packer.sh
# --current). The vSphere plugin is published from github.com/vmware/packer-plugin-vsphere as
# github.com/vmware/vsphere (kubernetes-sigs/image-builder moved its source the same way:
# images/capi/packer/ova/config.pkr.hcl); 2.0.0, not 2.0.1, which breaks template builds
# (vmware/packer-plugin-vsphere#652). qemu: hashicorp/packer-plugin-qemu's release v1.1.4.
# Debian's packer 1.6.6, which `make lint` validates the template with, has both builders built in
# and rejects this block, so scripts/packer16-template.sh leaves this one file out; check-packer.sh
# checks the pins themselves offline (scripts/check-plugin-pins.py).
packer {
  required_version = ">= 1.7.0"
  required_plugins {
    vsphere = {
      version = "= 2.0.0"
      source  = "github.com/vmware/vsphere"
    }
    qemu = {
      version = "= 1.1.4"
      source  = "github.com/hashicorp/qemu"
    }
  }
}
