# The project's entry points. `make test` is what CI runs (.ci/run).
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: all tools build lint test unit e2e demo clean-tools

all: build

## tools: install vcsim, govc (from Debian's govmomi source) and the Python test venv
tools:
	bash scripts/install-test-tools.sh

## build: the event-router, firstboot and ova binaries (debug)
build:
	$(CARGO) build -p event-router -p firstboot -p ovf

## lint: formatting, clippy, shellcheck, the type table's consistency
lint: tools
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings
	shellcheck scripts/*.sh tests/peers/*.sh .ci/run
	python3 scripts/check-vim-types.py router/src/vsphere/vim_types.txt

## unit: unit tests only (no tools needed)
unit:
	$(CARGO) test -p event-router

## test: install the test tools, lint, and run every test (unit + end-to-end against vcsim)
test: tools lint build
	set -o pipefail; $(CARGO) test --workspace 2>&1 | tee target/test.log
	@awk '/^test result:/ { p += $$4; f += $$6 } END { printf "tests: %d passed, %d failed\n", p, f; exit (f > 0 || p == 0) }' target/test.log

## demo: vcsim -> event-router -> CloudEvents on the console
demo: tools build
	bash scripts/demo.sh

clean-tools:
	rm -rf .tools
