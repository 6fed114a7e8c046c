//! Every end-to-end suite in one test binary (one link instead of one per suite): each module
//! is a suite against real peers (vcsim and govc, the Python CloudEvents SDK, moto, Chromium,
//! QEMU, a Kubernetes API server), with the shared harness in the `e2e` library (`harness/`).
//! Run one suite with `cargo test -p e2e --test all <module>::`.

mod alarms;
mod bad_input;
mod broker;
mod checkpoint;
mod cli;
mod console;
mod delivery_faults;
mod deploy_scripts;
mod eventbridge;
mod examples;
mod failover;
mod first_boot_vm;
mod firstboot_cli;
mod firstboot_run;
mod firstboot_vapp;
mod horizon;
mod hostile;
mod kube_api;
mod manifests;
mod multi_source;
mod no_loss;
mod open_door;
mod openfaas;
mod ordering;
mod ova_build;
mod packer;
mod provisioning;
mod router_image;
mod smoke_ova;
mod upgrade;
mod vcenter_knative;
mod veba_compat;
mod webhook;
