# t2g2p2s: every target sets up .venv on first use (torch==2.13.0 CPU wheel in the same resolver run as the rest).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.t2g2p2s-installed
PROFILE ?= params/sample.yaml

.PHONY: install reproduce test sync bench figures data-checksums clean help
.DEFAULT_GOAL := help

help:
	@echo "make reproduce   set up .venv if needed, run the sample profile end to end (papermill), print where outputs are"
	@echo "make test        set up .venv if needed, check notebooks clean + library in sync, run pytest"
	@echo "make sync        nbdev_clean + nbdev_export after editing notebooks"
	@echo "make bench       run the benchmarks in bench/"
	@echo "make figures     regenerate the figures from the latest run outputs and publish them to figures/"
	@echo "make data-checksums  rewrite the sha256 list in data/README.md"

$(STAMP): settings.ini setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "torch==2.13.0" -e ".[dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name t2g2p2s --display-name "Python (t2g2p2s)" >/dev/null
	touch $(STAMP)

install: $(STAMP)

reproduce: $(STAMP)
	$(BIN)/t2g2p2s run $(PROFILE) $(if $(RUN_ID),--run-id $(RUN_ID),)

test: $(STAMP)
	$(BIN)/python tools/check_nbdev.py
	$(BIN)/python -m pytest

sync: $(STAMP)
	$(BIN)/nbdev_clean
	$(BIN)/nbdev_export

bench: $(STAMP)
	for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

figures: $(STAMP)
	$(BIN)/t2g2p2s figures

data-checksums:
	$(PYTHON) tools/data_checksums.py

clean:
	rm -rf build runs .pytest_cache
