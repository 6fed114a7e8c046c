# Inputs of the appliance build. scripts/build-ova.sh sets version, commit, build_password and
# artifacts_dir; the vSphere build needs the vcenter_* and placement variables (see
# vsphere.example.pkrvars.hcl); the qemu build needs none of them.

variable "version" {
  type        = string
  description = "Appliance version (the router's Cargo version); in the OVA name and annotation."
  validation {
    condition     = length(var.version) > 0
    error_message = "The version variable must be set (scripts/build-ova.sh sets it from Cargo.toml)."
  }
}

variable "commit" {
  type        = string
  description = "Git commit the appliance is built from."
  validation {
    condition     = length(var.commit) > 0
    error_message = "The commit variable must be set (scripts/build-ova.sh sets it from git)."
  }
}

variable "build_password" {
  type        = string
  sensitive   = true
  description = "Root password used only while building (SSH from packer); cleanup locks it and first boot sets the OVF one."
  validation {
    condition     = length(var.build_password) >= 12
    error_message = "The build_password variable must have at least 12 characters (scripts/build-ova.sh makes a random one)."
  }
}

variable "artifacts_dir" {
  type        = string
  description = "Folder with the build's inputs made by scripts/build-ova.sh: firstboot, the router image, ova."
}

variable "output_dir" {
  type        = string
  default     = "dist"
  description = "Where the OVA is written."
}

variable "vm_name" {
  type    = string
  default = "event-broker-appliance"
}

variable "cpus" {
  type    = number
  default = 2
}

variable "memory_mb" {
  type    = number
  default = 8192
}

variable "disk_size_mb" {
  type    = number
  default = 25600
}

variable "iso_mirrors" {
  type        = list(string)
  default     = []
  description = "Places to fetch the Photon ISO from before bom.json's URLs (an internal mirror, or file:///path/to/the.iso); bom.json's checksum still applies."
}

variable "bom_strict" {
  type        = bool
  default     = false
  description = "Refuse artefacts bom.json does not pin by checksum (instead of recording them with a warning)."
}

# ---- vsphere-iso only
variable "vcenter_server" {
  type        = string
  default     = ""
  description = "vCenter to build on (FQDN or IP)."
}

variable "vcenter_username" {
  type    = string
  default = ""
}

variable "vcenter_password" {
  type      = string
  default   = ""
  sensitive = true
}

variable "vcenter_insecure" {
  type        = bool
  default     = false
  description = "Skip vCenter certificate verification (lab vCenters with self-signed certificates)."
}

variable "vcenter_datacenter" {
  type    = string
  default = ""
}

variable "vcenter_cluster" {
  type    = string
  default = ""
}

variable "vcenter_datastore" {
  type    = string
  default = ""
}

variable "vcenter_network" {
  type        = string
  default     = ""
  description = "Port group with DHCP and internet access for the build VM."
}

variable "vcenter_folder" {
  type    = string
  default = ""
}

variable "http_ip" {
  type        = string
  default     = ""
  description = "Address of this machine the build VM fetches the kickstart from (packer's HTTP server); empty: packer's choice, the first non-loopback address, which on a host with several (a Docker bridge, a VPN) may not be one the vCenter's network reaches."
}

# ---- qemu only
variable "qemu_accelerator" {
  type        = string
  default     = "kvm"
  description = "kvm on a Linux runner with /dev/kvm; tcg works anywhere but is slow."
}

variable "headless" {
  type    = bool
  default = true
}
