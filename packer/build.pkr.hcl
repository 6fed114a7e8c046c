# Provisioning, the same for both sources: packages and the update first, a reboot into the
# updated kernel, then upload the payload scripts/build-ova.sh prepared (firstboot, the router
# image, manifests, bom.json, the scripts), run the scripts in order, and turn the disk into the
# OVA with our `ova build` (descriptor from the property schema). packer/README.md explains each
# step with the upstream files behind it.

build {
  sources = ["source.vsphere-iso.photon", "source.qemu.photon"]

  # 1. Packages on the bare Photon 5 minimal install: the repositories pointed at bom.json's
  #    repo_host, the update and what the later scripts use (tar, jq, curl, zstd, diffutils, ...),
  #    before anything needs them. No payload yet.
  provisioner "shell" {
    environment_vars = ["PHOTON_REPO_HOST=${local.bom.photon.repo_host}"]
    execute_command  = "chmod +x {{ .Path }}; {{ .Vars }} bash {{ .Path }}"
    scripts          = ["${path.root}/scripts/00-packages.sh"]
  }

  # 2. `tdnf update` may replace the kernel and delete the running kernel's modules (overlay,
  #    br_netfilter, vxlan), which k3s needs: reboot into the new kernel before k3s runs.
  provisioner "shell" {
    execute_command   = "chmod +x {{ .Path }}; {{ .Vars }} bash {{ .Path }}"
    inline            = ["systemctl reboot"]
    expect_disconnect = true
    skip_clean        = true
  }

  # 3. The payload, outside /tmp (a tmpfs on Photon: a reboot empties it).
  provisioner "file" {
    pause_before = "30s"
    source       = "${var.artifacts_dir}/payload.tar.gz"
    destination  = "${local.payload}.tar.gz"
  }

  # 4. The appliance, on the rebooted system.
  provisioner "shell" {
    environment_vars = [
      "APPLIANCE_VERSION=${var.version}",
      "APPLIANCE_COMMIT=${var.commit}",
      "PAYLOAD=${local.payload}",
      "BOM_STRICT=${var.bom_strict ? 1 : 0}",
    ]
    execute_command = "chmod +x {{ .Path }}; {{ .Vars }} bash {{ .Path }}"
    scripts = [
      "${path.root}/scripts/10-unpack.sh",
      "${path.root}/scripts/20-os.sh",
      "${path.root}/scripts/30-k3s.sh",
      "${path.root}/scripts/40-knative.sh",
      "${path.root}/scripts/50-appliance.sh",
      "${path.root}/scripts/90-cleanup.sh",
    ]
  }

  post-processor "shell-local" {
    environment_vars = [
      "SOURCE_TYPE=${source.type}",
      "OUTPUT_DIR=${var.output_dir}",
      "OVA=${local.ova}",
      "OVA_TOOL=${var.artifacts_dir}/ova",
      "VM_NAME=${var.vm_name}",
      "VERSION=${var.version}",
      "COMMIT=${var.commit}",
    ]
    script = "${path.root}/scripts/package-ova.sh"
  }
}
