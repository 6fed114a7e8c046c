# Plugins for current packer (>= 1.7): `packer init packer/` installs them. Debian's packer
# 1.6.6, which CI uses to validate the template, has both builders built in and rejects this
# block, so the CI check (scripts/check-packer.sh) leaves this one file out.
packer {
  required_version = ">= 1.7.0"
  required_plugins {
    vsphere = {
      version = ">= 1.2.0"
      source  = "github.com/hashicorp/vsphere"
    }
    qemu = {
      version = ">= 1.0.9"
      source  = "github.com/hashicorp/qemu"
    }
  }
}
