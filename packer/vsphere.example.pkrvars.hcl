# Example values for the vsphere-iso build: copy to vsphere.auto.pkrvars.hcl (gitignored), edit,
# and run `make ova SOURCE=vsphere-iso`. Or pass each as PKR_VAR_<name> in CI.
vcenter_server     = "vcenter.corp.local"
vcenter_username   = "packer@vsphere.local"
vcenter_password   = "change-me"
vcenter_insecure   = false
vcenter_datacenter = "Datacenter"
vcenter_cluster    = "Cluster"
vcenter_datastore  = "vsanDatastore"
vcenter_network    = "VM Network"
vcenter_folder     = "Templates"
