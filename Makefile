# All set-up happens here: a fresh machine needs only python3, make and root's apt.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RUNSTAMP := $(VENV)/.installed-run
SYSSTAMP := $(VENV)/.sysdeps
TESTSYSSTAMP := $(VENV)/.sysdeps-test
CONSTRAINTS := constraints/nova-34.0.0.txt
PYTEST_ARGS ?=

.PHONY: demo test venv sysdeps bench clean lint

# The demo needs only pcipass's run-time dependencies; the test extras (Nova itself, about
# 150 packages) are installed by `make test` alone.
demo: $(RUNSTAMP)
	$(BIN)/python -m pcipass.demo

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

venv: $(STAMP)

# Debian packages, installed only when missing and only as root. The demo and the scanner use
# pci.ids (device names); the tests also use pciutils (lspci, for the agreement tests), strace
# (the fuzz suite audits every file a run writes), jq (the README's examples pipe JSON through
# it, and a test runs them), and libvirt-clients with libxml2-utils (virt-xml-validate checks
# the guest device XML): `make test` alone installs those.
RUN_DEBS := pci.ids
TEST_DEBS := pciutils strace jq libvirt-clients libxml2-utils
# $(call debs,packages): install the packages, as root, with one apt-get update if needed.
define debs
if [ "$$(id -u)" = 0 ]; then \
  echo "installing Debian packages: $(1)"; \
  (apt-get install -y -q $(1) >/dev/null 2>&1 || \
   (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q $(1) >/dev/null)) || \
   echo "warning: could not install $(1)"; \
else echo "note: not root; skipping apt-get install $(1)"; fi
endef

$(SYSSTAMP):
	@$(PY) -m venv $(VENV)
	@if [ ! -e /usr/share/misc/pci.ids ]; then $(call debs,$(RUN_DEBS)); fi
	@touch $@

$(TESTSYSSTAMP): $(SYSSTAMP)
	@if ! command -v lspci >/dev/null 2>&1 || ! command -v strace >/dev/null 2>&1 || \
	    ! command -v jq >/dev/null 2>&1 || ! command -v virt-xml-validate >/dev/null 2>&1 || \
	    ! command -v xmllint >/dev/null 2>&1; then $(call debs,$(TEST_DEBS)); fi
	@touch $@

$(RUNSTAMP): pyproject.toml $(CONSTRAINTS) $(SYSSTAMP)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c $(CONSTRAINTS) -e .
	@touch $@

$(STAMP): pyproject.toml $(CONSTRAINTS) $(TESTSYSSTAMP)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c $(CONSTRAINTS) -e '.[test,reference]'
	@touch $@ $(RUNSTAMP)

bench: $(STAMP)
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) build dist .pytest_cache .hypothesis src/*.egg-info
