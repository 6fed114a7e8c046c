# Provisioning, the same for both sources: upload the payload scripts/build-ova.sh prepared
# (firstboot, the router image, manifests, bom.json, the scripts), run the scripts in order,
# then turn the disk into the OVA with our `ova build` (descriptor from the property schema).

build {
  sources = ["source.vsphere-iso.photon", "source.qemu.photon"]

  provisioner "file" {
    source      = "${var.artifacts_dir}/payload.tar.gz"
    destination = "/tmp/payload.tar.gz"
  }

  provisioner "shell" {
    environment_vars = [
      "APPLIANCE_VERSION=${var.version}",
      "APPLIANCE_COMMIT=${var.commit}",
      "PAYLOAD=/tmp/appliance",
      "BOM_STRICT=${var.bom_strict ? 1 : 0}",
    ]
    execute_command   = "chmod +x {{ .Path }}; {{ .Vars }} bash {{ .Path }}"
    expect_disconnect = true
    scripts = [
      "${path.root}/scripts/00-unpack.sh",
      "${path.root}/scripts/10-os.sh",
      "${path.root}/scripts/20-k3s.sh",
      "${path.root}/scripts/30-knative.sh",
      "${path.root}/scripts/40-appliance.sh",
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
