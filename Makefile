# The project's entry points. `make test` is what CI runs (.ci/run).
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: all tools build lint test unit e2e vm-test demo ova bench clean-tools

all: build

## tools: install vcsim, govc (from Debian's govmomi source), kube-apiserver and etcd (from Debian's
## kubernetes source and etcd-server), kubectl and the Python test venv
tools:
	bash scripts/install-test-tools.sh

## build: the event-router, firstboot and ova binaries (debug)
build:
	$(CARGO) build -p event-router -p firstboot -p ovf -p slack-alarm

## lint: formatting and clippy first (no tools needed), then shellcheck, the CI workflows, the packer
## template, the bill of materials (pinned, on current hosts), the resource budget, the image
## archive checker and the type table's consistency
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(MAKE) --no-print-directory tools
	shellcheck -x scripts/*.sh bench/*.sh tests/peers/*.sh packer/scripts/*.sh packer/scripts/lib/*.sh examples/*.sh examples/*/*.sh .ci/run
	node scripts/lint-workflows.mjs .github/workflows/*.yml
	bash scripts/check-packer.sh
	BOM_STRICT=1 bash scripts/pin-bom.sh --check
	.tools/venv/bin/python scripts/check-budget.py --readme README.md
	bash scripts/test-image-names.sh
	python3 scripts/check-vim-types.py router/src/vsphere/vim_types.txt
	python3 tests/peers/govmomi_json.py --self-test
	python3 tests/peers/govmomi_json.py --check tests/fixtures/govmomi-0.30.2/vcsim tests/fixtures/govmomi-0.30.2/edge

## unit: every crate's own tests (router, firstboot, ovf, durable, bench; no tools needed)
unit:
	$(CARGO) test -p event-router -p firstboot -p ovf -p durable -p bench -p slack-alarm

## test: install the test tools, lint, and run every test (unit + end-to-end against vcsim), then
## import an OVA made by `ova build` into vcsim and read its vApp properties back (as ova.yml does
## with the real one)
test: tools lint build
	qemu-img create -q -f qcow2 target/vcsim-import.qcow2 64M
	target/debug/ova build --disk target/vcsim-import.qcow2 --out target/vcsim-import.ova >/dev/null
	bash scripts/vcsim-import-ova.sh target/vcsim-import.ova
	set -o pipefail; $(CARGO) test --workspace 2>&1 | tee target/test.log
	@awk '/^test result:/ { p += $$4; f += $$6 } END { printf "tests: %d passed, %d failed\n", p, f; exit (f > 0 || p == 0) }' target/test.log

## vm-test: first boot in a real VM: a Debian image with the appliance's parts under QEMU (part of `make test`)
vm-test: tools build
	$(CARGO) test -p e2e --test all first_boot_vm:: -- --nocapture

## bench: throughput, latency (vcsim) and memory of the release router, pyVmomi and govmomi as peers;
## table + target/bench/results.json
EVENTS ?= 100000
bench: tools
	bash bench/build-govmomi-peer.sh
	$(CARGO) build --release -p event-router -p bench
	target/release/event-bench --router target/release/event-router --events $(EVENTS)

## demo: vcsim -> event-router -> CloudEvents on the console
demo: tools build
	bash scripts/demo.sh

## ova: build the appliance OVA with packer (SOURCE=qemu on Linux with KVM, SOURCE=vsphere-iso on a vCenter)
SOURCE ?= qemu
ova:
	bash scripts/build-ova.sh $(SOURCE)

clean-tools:
	rm -rf .tools
