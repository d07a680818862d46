# bonded-tally: `make run` and `make test` do all their own set-up on a fresh Debian/Ubuntu machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# Debian packages: libzbar0 for pyzbar, a CJK font for product names on labels, curl for the
# README walkthrough, chromium for the browser tests (both run by `make test`) and postgresql:
# the tests start their own throwaway PostgreSQL clusters (tests/pgcluster.py).
APT_PACKAGES := libzbar0 fonts-wqy-microhei curl chromium postgresql
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# axe-core for the browser tests' accessibility checks (tests/browser/conftest.py loads
# $(AXE_JS)): the npm registry's tarball at a pinned version, checked against the sha512
# `dist.integrity` the registry publishes for it, kept in an ignored cache folder.
AXE_VERSION := 4.14.1
AXE_INTEGRITY := sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ==
AXE_DIR := .cache/axe-core
AXE_TGZ := $(AXE_DIR)/axe-core-$(AXE_VERSION).tgz
AXE_JS := $(AXE_DIR)/axe.min.js

.PHONY: run test bench fuzz lint system clean

run: $(STAMP)
	$(BIN)/tally migrate
	$(BIN)/tally demo
	exec $(BIN)/tally serve

test: $(STAMP) $(AXE_JS)
	$(BIN)/ruff check .
	$(BIN)/pytest

# The ingestion benchmark loads the server with wrk (Debian's package). PHOTOS=DIR: a copy of
# ZXing's public 1D test photos for the decoding benchmark (reported absent without it).
bench: $(STAMP)
	@dpkg -s wrk >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends wrk; }
	TALLY_BENCH_PHOTOS="$(PHOTOS)" $(BIN)/python -m bench.run

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

$(AXE_TGZ): | system
	mkdir -p $(AXE_DIR)
	curl -fsSL --retry 3 -o $@.part https://registry.npmjs.org/axe-core/-/axe-core-$(AXE_VERSION).tgz
	$(PYTHON) -c 'import base64, hashlib, sys; \
		got = "sha512-" + base64.b64encode(hashlib.sha512(open(sys.argv[1], "rb").read()).digest()).decode(); \
		sys.exit(0 if got == sys.argv[2] else f"{sys.argv[1]}: integrity {got}, expected {sys.argv[2]}")' \
		$@.part '$(AXE_INTEGRITY)' || { rm -f $@.part; exit 1; }
	mv $@.part $@

# The one file the tests inject; rebuilt from the tarball when the pinned version changes.
$(AXE_JS): $(AXE_TGZ)
	tar -xzf $< -C $(AXE_DIR) --strip-components=1 package/axe.min.js
	touch $@

clean:
	rm -rf $(VENV) build *.egg-info .cache
