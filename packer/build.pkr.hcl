# Provisioning, the same for both sources: packages and the update first, then the upload of the
# payload scripts/build-ova.sh prepared (firstboot, the router image, manifests, bom.json, the
# scripts), a reboot into the updated kernel, the scripts in order on the rebooted system, and
# the disk turned into the OVA with our `ova build` (descriptor from the property schema).
# packer/README.md explains each step with the upstream files behind it.

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

  # 2. The payload, before the reboot: the file provisioner calls Upload once, with no retry
  #    (hashicorp/packer, provisioner/file/provisioner.go), and the SSH communicator reconnects
  #    once (hashicorp/packer-plugin-sdk, sdk-internals/communicator/ssh/communicator.go,
  #    newSession), so an upload right after the reboot fails while the VM is still booting.
  #    Outside /tmp, a tmpfs on Photon that the reboot empties.
  provisioner "file" {
    source      = "${var.artifacts_dir}/payload.tar.gz"
    destination = "${local.payload}.tar.gz"
  }

  # 3. `tdnf update` may replace the kernel and delete the running kernel's modules (overlay,
  #    br_netfilter, vxlan), which k3s needs: reboot into the new kernel before k3s runs.
  provisioner "shell" {
    execute_command   = "chmod +x {{ .Path }}; {{ .Vars }} bash {{ .Path }}"
    inline            = ["systemctl reboot"]
    expect_disconnect = true
    skip_clean        = true
  }

  # 4. The appliance, on the rebooted system. A shell provisioner retries uploading and starting
  #    each script until start_retry_timeout (hashicorp/packer, provisioner/shell/provisioner.go:
  #    "This can be set high to allow for reboots"), as VEBA's template follows its reboot with a
  #    shell step (vmware-samples/vcenter-event-broker-appliance, photon.pkr.hcl); pause_before
  #    keeps it from reaching the system while it is still going down.
  provisioner "shell" {
    pause_before        = "30s"
    start_retry_timeout = "30m"
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
    # shell-local runs a `script` file as it is (`/bin/sh -c "{{.Vars}} {{.Script}}"`, and only
    # inline scripts are made executable: hashicorp/packer-plugin-sdk shell-local/config.go,
    # run.go), so the interpreter is named here rather than trusting the checkout's file mode.
    execute_command = ["/bin/sh", "-c", "{{.Vars}} bash {{.Script}}"]
  }
}
