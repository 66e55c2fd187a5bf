# colddiff: `make reproduce` (main job) and `make test`. Each first does whatever set-up is missing.
SHELL := /bin/bash
PYTHON ?= python3
PROFILE ?= smoke
FORCE ?= 0
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.colddiff-setup
FID := .cache/fid/.prepared
RESULTS := results/$(PROFILE)
EXEC := $(RESULTS)/executed
export COLDDIFF_PROFILE := $(PROFILE)
export COLDDIFF_FORCE := $(FORCE)

NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
EXECUTED := $(patsubst notebooks/%.ipynb,$(EXEC)/%.ipynb,$(NOTEBOOKS))

.PHONY: all setup reproduce test lab bench clean-results table1 table2 table3 table4 table5 figure21 help
.DEFAULT_GOAL := help

help:
	@echo "make reproduce [PROFILE=smoke|cpu|paper] [FORCE=1]  run every notebook, write results/<profile>/"
	@echo "make test                                            unit tests + nbval on the committed notebooks"
	@echo "make table1 .. table5, make figure21                 one piece each"
	@echo "make lab                                             JupyterLab with the colddiff kernel"
	@echo "make bench                                           benchmarks -> results/bench/"

# ---- set-up (a dependency of everything; nobody has to run it by hand) ----------------------
$(STAMP): requirements.txt requirements-nodeps.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade-strategy only-if-needed -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -r requirements-nodeps.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	$(PY) -m ipykernel install --sys-prefix --name colddiff --display-name "colddiff (.venv)" >/dev/null
	touch $@

$(FID): $(STAMP)
	$(PY) -m colddiff_lib prepare-fid
	touch $@

setup: $(STAMP) $(FID)

# ---- tests ------------------------------------------------------------------------------------
test: setup
	@$(PY) -m pytest tests $(NOTEBOOKS) --nbval-lax --nbval-sanitize-with notebooks/nbval_sanitize.cfg \
	  --nbval-kernel-name colddiff -q; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: check tests/ and notebooks/" >&2; fi; exit $$rc

# ---- the main job -------------------------------------------------------------------------------
reproduce: setup $(EXECUTED)
	@echo "Results for profile $(PROFILE) are in $(RESULTS)/ (tables/, figures/, executed/)"

$(EXEC)/%.ipynb: notebooks/%.ipynb $(wildcard colddiff_lib/*.py) | setup
	@mkdir -p $(EXEC)
	@echo ">>> $< (PROFILE=$(PROFILE))"
	@$(PY) -m papermill $< $(EXEC)/.partial-$*.ipynb -k colddiff -p PROFILE $(PROFILE) --log-level WARNING \
	  $$( [ "$${CI:-}" = true ] && echo --no-progress-bar ) \
	  || { echo "ERROR: notebook $< failed (PROFILE=$(PROFILE)); the partial run is $(EXEC)/.partial-$*.ipynb" >&2; exit 1; }
	@mv $(EXEC)/.partial-$*.ipynb $@

table1: setup ; @$(MAKE) --no-print-directory $(EXEC)/03_deblurring.ipynb
table2: setup ; @$(MAKE) --no-print-directory $(EXEC)/04_inpainting.ipynb
table3: setup ; @$(MAKE) --no-print-directory $(EXEC)/05_super_resolution.ipynb
table4: setup ; @$(MAKE) --no-print-directory $(EXEC)/06_snowification.ipynb
table5 figure21: setup ; @$(MAKE) --no-print-directory $(EXEC)/07_generation.ipynb

lab: setup
	$(VENV)/bin/jupyter lab notebooks/

bench: setup
	$(PY) -m benchmarks

clean-results:
	rm -rf $(RESULTS)/executed
