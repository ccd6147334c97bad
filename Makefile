# Two commands matter: `make run` and `make test`. Both do the whole set-up first.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
export QTWEBENGINE_DISABLE_SANDBOX ?= 1

.PHONY: setup run serve test check unit integration bench package package-test clean

setup:
	@bash packaging/setup-dev.sh

run: setup
	$(VENV)/bin/softphone run

serve: setup
	$(VENV)/bin/softphone serve

check: setup
	$(VENV)/bin/ruff check softphone tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy --platform darwin --cache-dir .mypy_cache/darwin
	$(VENV)/bin/mypy --platform win32 --cache-dir .mypy_cache/win32

# pytest exit code 5 means "no tests collected": treat as failure only when tests exist. The slowest tests are
# listed at the end (the suite should stay under 10 minutes on 2 cores).
test: check
	@set +e; $(PY) -m pytest -q -p no:cacheprovider --durations=15 tests; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest: no tests collected"; exit 0; fi; exit $$rc

unit: setup
	$(PY) -m pytest -q tests/unit

integration: setup
	$(PY) -m pytest -q tests/integration

bench: setup
	$(PY) bench/run_all.py

package: setup
	bash packaging/build-linux.sh

# The frozen-app smoke tests build dist/ when stale (2-3 min): kept out of `make test`, where they show as skipped.
package-test: setup
	SOFTPHONE_PACKAGE_TEST=1 $(PY) -m pytest -q -p no:cacheprovider tests/packaging

clean:
	rm -rf $(VENV) build dist .mypy_cache .ruff_cache ui/node_modules

# Proves the set-up on a bare Debian 12 (debootstrap chroot under build/, as root): slow, not part of `make test`.
.PHONY: fresh-check
fresh-check:
	nice bash packaging/fresh-debian/check.sh setup test
