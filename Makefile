# ogi-archive: `make demo` and `make test` do all the set-up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LOCK   := requirements.lock

.PHONY: setup demo test lint lock bench clean

# Exact versions with hashes from the lock file; pyproject.toml keeps the ranges for library users.
$(STAMP): pyproject.toml simulator/pyproject.toml $(LOCK) scripts/install-debian-packages.sh
	bash scripts/install-debian-packages.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes --no-deps -r $(LOCK)
	$(BIN)/pip install --quiet --no-deps -e . -e simulator
	touch $(STAMP)

setup: $(STAMP)

demo: setup  ## serve the bundled demo portal, crawl it, extract and export
	$(BIN)/ogi demo

lint: setup  ## import contracts (the layers, see README) and ruff
	$(BIN)/lint-imports
	$(BIN)/ruff check .

test: lint  ## the linters, then the whole test suite, on SQLite and PostgreSQL
	bash scripts/ensure-services.sh
	$(BIN)/python -m pytest

lock:  ## re-resolve pyproject.toml's ranges into requirements.lock (then `make setup` installs it)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet "pip-tools>=7.4"
	$(BIN)/pip-compile --quiet --upgrade --generate-hashes --allow-unsafe --strip-extras --extra test \
	    --no-emit-index-url --no-emit-find-links -o $(LOCK) pyproject.toml

BENCHMARKS := crawl_throughput incremental_recrawl extraction_accuracy extraction_speed web_perf fault_soak

bench: setup  ## every benchmark (web_perf generates its 100,000-version archives first); figures go to bench/results/
	bash scripts/ensure-services.sh
	for b in $(BENCHMARKS); do $(BIN)/python bench/$$b.py || exit 1; done

clean:
	rm -rf $(VENV) data build *.egg-info
