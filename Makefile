# The two commands a fresh machine needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
TEST_STAMP := $(VENV)/.installed-test-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test browser lint bench bench-drift-env bench-pii-env clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# uv (one wheel from PyPI) installs into .venv what pip would, in seconds rather than minutes.
# Where it cannot be installed, pip (upgraded first) does the work. uv reads neither pip's
# configuration nor its PIP_* variables (its own are UV_*): it takes every package from PyPI.
# Like pip, it is told to write the installed packages' bytecode: without it, and with
# PYTHONDONTWRITEBYTECODE set, every Python process the tests start would compile pandas,
# scikit-learn and the rest again.
INSTALL = if [ -x $(BIN)/uv ] || $(BIN)/python -m pip install --quiet uv; then \
		$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python $(1); \
	else \
		echo "uv could not be installed: pip installs instead"; \
		$(BIN)/python -m pip install --quiet --upgrade pip && \
		$(BIN)/python -m pip install --quiet $(1); \
	fi

$(STAMP): $(BIN)/python pyproject.toml
	$(call INSTALL,-e .)
	touch $@

$(TEST_STAMP): $(BIN)/python pyproject.toml
	$(call INSTALL,-e '.[dev]')
	touch $@

# The environment may set PYTHONDONTWRITEBYTECODE, and an editable install compiles nothing: then
# every usina process (each CLI command, server worker and request-log writer the tests start)
# compiles usina's source again. compileall writes the bytecode once (again only for what
# changed); Python reads it whatever that variable says.
BYTECODE = $(BIN)/python -m compileall -q src

demo: $(STAMP)
	$(BYTECODE)
	$(BIN)/usina demo

# Debian's Chromium, which the web console's browser tests drive through Playwright (no
# browser is downloaded: `playwright install` is never run). Skipped when it is there.
browser:
	@if [ -x /usr/bin/chromium ]; then echo "chromium: /usr/bin/chromium"; else \
		SUDO=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
		$$SUDO apt-get update -q && $$SUDO apt-get install -y -q chromium; fi

lint: $(TEST_STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

# Two workers (pytest-xdist), a test file's tests on one of them (module fixtures, such as a
# local Ray, start once): most tests wait on servers and subprocesses, so two run in the time
# of about one. Tests marked serial (schemathesis makes its tests as it collects, which
# pytest-xdist's workers cannot share) run at the same time in a third process, their output
# kept in .venv/serial-tests.log and printed when both are done. pytest's exit status 5 (no
# tests collected) fails either run; so does any other failure of either.
PYTEST_STATUS = if [ $$1 -eq 5 ]; then echo "pytest collected no tests ($$2): failing"; \
	return 1; fi; return $$1
test: lint
	@$(BYTECODE)
	@checked() { $(PYTEST_STATUS); }; \
	$(BIN)/python -m pytest -m serial > $(VENV)/serial-tests.log 2>&1 & serial=$$!; \
	$(BIN)/python -m pytest -n 2 --dist loadfile -m "not serial"; main=$$?; \
	wait $$serial; other=$$?; \
	echo "--- the serial tests (schemathesis), run alongside:"; cat $(VENV)/serial-tests.log; \
	checked $$main "two workers"; main=$$?; checked $$other "serial"; other=$$?; \
	[ $$main -eq 0 ] && [ $$other -eq 0 ]

# The peers (MLflow, kfp) pin their own versions of shared libraries, so benchmarks get
# their own environment and never change the one `make test` uses.
BENCH_VENV := .venv-bench
$(BENCH_VENV)/bin/python:
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip

bench: $(BENCH_VENV)/bin/python
	$(BENCH_VENV)/bin/python -m pip install --quiet -e '.[bench]'
	$(BENCH_VENV)/bin/python benchmarks/tracking.py

# Evidently 0.7 needs pandas<3, which usina's own environments do not pin, so the drift
# benchmark runs it from its own environment: python benchmarks/drift.py --evidently-python
# .venv-evidently/bin/python
EVIDENTLY_VENV := .venv-evidently
$(EVIDENTLY_VENV)/bin/python:
	$(PYTHON) -m venv $(EVIDENTLY_VENV)
	$(EVIDENTLY_VENV)/bin/python -m pip install --quiet --upgrade pip

bench-drift-env: $(EVIDENTLY_VENV)/bin/python
	$(EVIDENTLY_VENV)/bin/python -m pip install --quiet 'evidently==0.7.23' 'pandas<3' pyarrow

# Presidio (analyzer, anonymizer and spaCy) for the PII benchmark, in its own environment:
# python benchmarks/pii.py --presidio-python .venv-presidio/bin/python
PRESIDIO_VENV := .venv-presidio
$(PRESIDIO_VENV)/bin/python:
	$(PYTHON) -m venv $(PRESIDIO_VENV)
	$(PRESIDIO_VENV)/bin/python -m pip install --quiet --upgrade pip

bench-pii-env: $(PRESIDIO_VENV)/bin/python
	$(PRESIDIO_VENV)/bin/python -m pip install --quiet 'presidio-analyzer==2.2.366' 'presidio-anonymizer==2.2.366' pyarrow

clean:
	rm -rf $(VENV) $(BENCH_VENV) $(EVIDENTLY_VENV) $(PRESIDIO_VENV) .usina .pytest_cache .mypy_cache .ruff_cache
