# GridLedger: two commands on a fresh machine.
#   make run    network up (CAs, Raft orderers, peers, channels `energy` and `market`,
#               chaincode deployed), then simulated meters feeding the ledger through
#               the meter bridge
#   make test   unit tests and integration tests on a real network of their own
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python

# Fabric v3 cannot come from the Go module proxy; it is built from its source archive
# (network/fabric_source.py). Use the one shipped beside the project unless told otherwise.
SHARED_FABRIC_SOURCE := $(abspath ../shared/fabric/fabric-3.1.5-86c1172-src.tar.gz)
ifeq ($(GRIDLEDGER_FABRIC_SOURCE),)
ifneq ($(wildcard $(SHARED_FABRIC_SOURCE)),)
export GRIDLEDGER_FABRIC_SOURCE := $(SHARED_FABRIC_SOURCE)
endif
endif

.PHONY: run test lint down purge status binaries portal-setup

$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $@

# The portal's Debian packages (chromium, chromium-driver, postgresql) and browser
# libraries (Chart.js, npm): webui/setup.sh installs what is missing.
portal-setup:
	bash webui/setup.sh

run: $(VENV)/.installed portal-setup
	$(VENV)/bin/gridledger network up
	$(VENV)/bin/gridledger demo up
	$(VENV)/bin/gridledger network status

# pytest's exit code 5 is "no tests collected": said loudly, not a failure.
test: $(VENV)/.installed portal-setup
	$(VENV)/bin/ruff check .
	@$(PY) -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "WARNING: pytest collected no tests" >&2; exit 0; fi; \
	exit $$rc

binaries: $(VENV)/.installed
	$(VENV)/bin/gridledger network binaries

status: $(VENV)/.installed
	$(VENV)/bin/gridledger network status

down: $(VENV)/.installed
	$(VENV)/bin/gridledger network down

purge: $(VENV)/.installed
	$(VENV)/bin/gridledger network down --purge
