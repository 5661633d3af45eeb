# ogi-archive: `make demo` and `make test` do all the set-up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo test bench lint clean

$(STAMP): pyproject.toml scripts/install-debian-packages.sh
	bash scripts/install-debian-packages.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

demo: setup  ## serve the bundled demo portal, crawl it, extract and export
	$(BIN)/ogi demo

test: setup  ## the whole test suite, on SQLite and PostgreSQL
	bash scripts/ensure-services.sh
	$(BIN)/python -m pytest

BENCHMARKS := crawl_throughput incremental_recrawl extraction_accuracy extraction_speed web_perf

bench: setup  ## every benchmark (web_perf generates its 100,000-version archives first); figures go to bench/results/
	bash scripts/ensure-services.sh
	for b in $(BENCHMARKS); do $(BIN)/python bench/$$b.py || exit 1; done

clean:
	rm -rf $(VENV) data build *.egg-info
