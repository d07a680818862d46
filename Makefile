# bonded-tally: `make run` and `make test` do all their own set-up on a fresh Debian/Ubuntu machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# Debian packages: libzbar0 for pyzbar, a CJK font for product names on labels, curl for the
# README walkthrough and chromium for the browser tests (both run by `make test`).
APT_PACKAGES := libzbar0 fonts-wqy-microhei curl chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test bench fuzz lint system clean

run: $(STAMP)
	$(BIN)/tally migrate
	$(BIN)/tally demo
	exec $(BIN)/tally serve

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/pytest

# The ingestion benchmark loads the server with wrk (Debian's package).
bench: $(STAMP)
	@dpkg -s wrk >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends wrk; }
	$(BIN)/python -m bench.run

# Schemathesis against the running server for 15 minutes (make test runs 2): FUZZ_SECONDS, FUZZ_SEED.
fuzz: $(STAMP)
	$(BIN)/python -m bench.fuzz $${FUZZ_SECONDS:-900} $${FUZZ_SEED:-$$(date +%s)}

lint: $(STAMP)
	$(BIN)/ruff check .

# Install the system packages that are missing (one apt-get call, only when needed).
system:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python >= 3.11 is required ($(PYTHON) is $$($(PYTHON) -V))"; exit 1; }
	@missing=""; \
	for pkg in $(APT_PACKAGES); do \
		dpkg -s $$pkg >/dev/null 2>&1 || missing="$$missing $$pkg"; \
	done; \
	$(PYTHON) -c 'import ensurepip' 2>/dev/null || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
		echo "installing system packages:$$missing"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(STAMP): pyproject.toml | system
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) build *.egg-info
