# t2g2p2s: every target sets up .venv on first use (torch==2.13.0 CPU wheel in the same resolver run as the rest).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.t2g2p2s-installed
PROFILE ?= params/sample.yaml

.PHONY: install reproduce test sync bench figures data-checksums clean help rehearsal rehearsal-corpus
.DEFAULT_GOAL := help

help:
	@echo "make reproduce   set up .venv if needed, run the sample profile end to end (papermill), print where outputs are"
	@echo "make test        set up .venv if needed, check notebooks clean + library in sync, run pytest"
	@echo "make sync        nbdev_clean + nbdev_export after editing notebooks"
	@echo "make bench       run the benchmarks in bench/"
	@echo "make figures     regenerate the figures from the latest run outputs and publish them to figures/"
	@echo "make data-checksums  rewrite the sha256 list in data/README.md"
	@echo "make rehearsal   build + serve a rehearsal corpus (REHEARSAL_SCALE=1/16) and run params/rehearsal.yaml on it"

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

# The full profile rehearsed on a corpus of the real shape (README, "Rehearsing the full profile"); resumable:
# run it again after a stop and finished stages (stamps) and finished transcripts are not redone.
REHEARSAL_SCALE ?= 1/16
REHEARSAL_DIR   := build/rehearsal/$(subst /,-,$(REHEARSAL_SCALE))

rehearsal-corpus: $(STAMP)
	$(BIN)/t2g2p2s sample-corpus build --out $(REHEARSAL_DIR)/corpus --scale $(REHEARSAL_SCALE)

rehearsal: rehearsal-corpus
	$(BIN)/t2g2p2s sample-corpus serve $(REHEARSAL_DIR)/corpus --port 8766 & srv=$$!; \
	T2G2P2S_DATA=$(abspath $(REHEARSAL_DIR))/data $(BIN)/t2g2p2s run params/rehearsal.yaml --resume \
	  --run-id rehearsal-$(subst /,-,$(REHEARSAL_SCALE)); rc=$$?; kill $$srv; exit $$rc

data-checksums:
	$(PYTHON) tools/data_checksums.py

clean:
	rm -rf build runs .pytest_cache
