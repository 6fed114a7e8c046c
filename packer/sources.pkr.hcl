# Two ways to build the same appliance: vsphere-iso on a vCenter (for vSphere shops) and qemu on
# any Linux runner with KVM (no VMware needed). Both boot the Photon OS ISO, install it from the
# kickstart packer serves over HTTP, then provision over SSH (build.pkr.hcl).

locals {
  bom = jsondecode(file("${abspath(path.root)}/bom.json"))
  # Both sources boot BIOS (vsphere-iso: this firmware; qemu: its default SeaBIOS). On BIOS
  # the Photon 5.0 GA ISO starts ISOLINUX (vmware/photon 5.0,
  # support/image-builder/iso/mk-install-iso.sh: `mkisofs ... -b isolinux/isolinux.bin`; GRUB is
  # only its EFI loader): <esc> leaves the menu for the `boot:` prompt, which takes a kernel and
  # its arguments, as VEBA's BIOS build types them (vmware-samples/vcenter-event-broker-appliance,
  # photon.pkr.hcl). scripts/check-boot-command.py checks that this command fits the firmware.
  firmware = "bios"
  boot_command = [
    "<esc><wait>",
    "vmlinuz initrd=initrd.img root=/dev/ram0 loglevel=3 insecure_installation=1 ",
    "ks=http://{{ .HTTPIP }}:{{ .HTTPPort }}/ks.json photon.media=cdrom",
    "<enter>",
  ]
  # The Photon ISO: any mirrors the builder names first, then bom.json's URLs; packer tries them
  # in order and checks bom.json's checksum whichever answers.
  iso_urls       = concat(var.iso_mirrors, local.bom.photon.iso_urls)
  http_directory = "${var.artifacts_dir}/http"
  ova            = "${var.output_dir}/${var.vm_name}_${var.version}.ova"
  # Where the payload is uploaded and unpacked: not /tmp, which the reboot empties.
  payload = "/root/appliance-payload"
}

source "vsphere-iso" "photon" {
  vcenter_server      = var.vcenter_server
  username            = var.vcenter_username
  password            = var.vcenter_password
  insecure_connection = var.vcenter_insecure
  datacenter          = var.vcenter_datacenter
  cluster             = var.vcenter_cluster
  datastore           = var.vcenter_datastore
  folder              = var.vcenter_folder

  vm_name              = "${var.vm_name}-build-${var.commit}"
  guest_os_type        = "vmwarePhoton64Guest"
  vm_version           = 17
  firmware             = local.firmware
  CPUs                 = var.cpus
  RAM                  = var.memory_mb
  disk_controller_type = ["pvscsi"]
  storage {
    disk_size             = var.disk_size_mb
    disk_thin_provisioned = true
  }
  network_adapters {
    network      = var.vcenter_network
    network_card = "vmxnet3"
  }
  notes = "Event Broker Appliance build ${var.version} (${var.commit}); packer removes it after export."

  iso_urls       = local.iso_urls
  iso_checksum   = local.bom.photon.iso_checksum
  http_directory = local.http_directory
  http_ip        = var.http_ip
  boot_wait      = "10s"
  boot_command   = local.boot_command

  ssh_username     = "root"
  ssh_password     = var.build_password
  ssh_timeout      = "45m"
  shutdown_command = "shutdown -P now"

  convert_to_template = false
  # The build VM is removed once exported: nothing is left behind on the vCenter.
  destroy = true # packer >= 1.7
  export {
    output_directory = "${var.output_dir}/vsphere"
    force            = true
  }
}

source "qemu" "photon" {
  vm_name          = "${var.vm_name}.qcow2"
  output_directory = "${var.output_dir}/qemu"
  accelerator      = var.qemu_accelerator
  headless         = var.headless
  cpus             = var.cpus
  memory           = var.memory_mb
  disk_size        = "${var.disk_size_mb}M"
  disk_interface   = "virtio-scsi"
  net_device       = "virtio-net"
  format           = "qcow2"
  # SeaBIOS, like the BIOS firmware on vSphere (no efi_boot): the same boot_command fits both.

  iso_urls       = local.iso_urls
  iso_checksum   = local.bom.photon.iso_checksum
  http_directory = local.http_directory
  boot_wait      = "10s"
  boot_command   = local.boot_command

  ssh_username     = "root"
  ssh_password     = var.build_password
  ssh_timeout      = "45m"
  shutdown_command = "shutdown -P now"
}
