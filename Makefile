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
# OpenMP threads sleep, not spin, while they wait: two jobs sharing the cores (a training run in the
# background) otherwise starve each other (colddiff_lib/__init__.py; make bench, "threads")
export OMP_WAIT_POLICY ?= PASSIVE

NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
# what make test runs (e.g. make test TESTS=tests/test_restore.py for one file)
TESTS ?= tests $(NOTEBOOKS)
EXECUTED := $(patsubst notebooks/%.ipynb,$(EXEC)/%.ipynb,$(NOTEBOOKS))

.PHONY: all check-args setup browser-setup reproduce test lab bench gpu-check gpu-prepare clean-results fashion-mnist table1 table2 table3 table4 table5 figure21 help
.DEFAULT_GOAL := help

help:
	@echo "make reproduce [PROFILE=smoke|cpu|paper] [FORCE=1]  run every notebook, write results/<profile>/"
	@echo "make test                                            unit tests + nbval on the committed notebooks"
	@echo "make table1 .. table5, make figure21                 one piece each"
	@echo "make lab                                             JupyterLab with the colddiff kernel"
	@echo "make bench                                           benchmarks -> results/bench/"
	@echo "make fashion-mnist                                   optional: Fashion-MNIST from Debian into data/"
	@echo "make gpu-prepare / make gpu-check                    the paper profile on one GPU -> results/gpu/"

# ---- set-up (a dependency of everything; nobody has to run it by hand) ----------------------
$(STAMP): requirements.txt requirements-nodeps.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade-strategy only-if-needed -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -r requirements-nodeps.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	$(PY) -m ipykernel install --sys-prefix --name colddiff --display-name "colddiff (.venv)" >/dev/null
	@# the kernel talks to papermill, nbval and JupyterLab over loopback ports of this machine only, so its
	@# warning about unencrypted TCP says nothing a reader can act on: the kernel logs errors only
	$(PY) -c "import json, sys, pathlib; p = pathlib.Path(sys.prefix, 'share/jupyter/kernels/colddiff/kernel.json'); \
	  k = json.loads(p.read_text()); a = k['argv']; f = '--IPKernelApp.log_level=ERROR'; \
	  a.append(f) if f not in a else None; p.write_text(json.dumps(k, indent=1))"
	touch $@

$(FID): $(STAMP)
	$(PY) -m colddiff_lib prepare-fid
	touch $@

setup: $(STAMP) $(FID)

# the browser test's needs: Debian's chromium and the playwright package (driver only, no browser download)
BROWSER := $(VENV)/.colddiff-browser
$(BROWSER): $(STAMP)
	@test -x /usr/bin/chromium || { echo "installing Debian's chromium for the JupyterLab browser test"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }
	$(PY) -m pip install -q playwright==1.65.2
	touch $@

browser-setup: $(BROWSER)

# optional second real dataset: Fashion-MNIST from Debian's dataset-fashion-mnist, unpacked into
# data/ without root (apt-get download + dpkg-deb -x); nothing else needs it
FASHION := data/FashionMNIST/raw/t10k-labels-idx1-ubyte.gz
$(FASHION):
	@test -d /usr/share/datasets/fashion-mnist && mkdir -p $(@D) && cp /usr/share/datasets/fashion-mnist/*-ubyte.gz $(@D)/ || { \
	  rm -rf .cache/deb && mkdir -p .cache/deb && cd .cache/deb && apt-get download -q dataset-fashion-mnist >/dev/null 2>&1 \
	  && dpkg-deb -x dataset-fashion-mnist_*.deb root && cd ../.. && mkdir -p $(@D) \
	  && cp .cache/deb/root/usr/share/datasets/fashion-mnist/*-ubyte.gz $(@D)/ && rm -rf .cache/deb; } \
	  || { echo "could not get Debian's dataset-fashion-mnist; put the four *-ubyte.gz files in $(@D)/" >&2; exit 1; }

fashion-mnist: $(FASHION)

# ---- tests ------------------------------------------------------------------------------------
# The tests run in a scratch copy of the working tree (tracked files and untracked ones git does not
# ignore; .venv, .cache and data/ shared by links), so that the notebooks nbval executes, the browser
# test's screenshots and every other file a test writes land there and not in the repository: a test
# run leaves `git status` as it found it. PYTHONPATH puts the copy's colddiff_lib before the editable install.
test: setup browser-setup
	@scratch=$$(mktemp -d "$${TMPDIR:-/tmp}/colddiff-test.XXXXXX") || exit 1; \
	trap 'rm -rf "$$scratch"' EXIT; \
	git ls-files -co --exclude-standard -z 2>/dev/null | xargs -0 -r cp --parents -t "$$scratch" 2>/dev/null \
	  || { echo "error: could not copy the working tree to $$scratch for the tests (is this a git checkout?)" >&2; exit 2; }; \
	for d in $(VENV) .cache data; do [ -e "$$d" ] && ln -s "$(CURDIR)/$$d" "$$scratch/$$d"; done; \
	cd "$$scratch" && PYTHONPATH="$$scratch$${PYTHONPATH:+:$$PYTHONPATH}" $(PY) -m pytest $(TESTS) --nbval-lax \
	  --nbval-sanitize-with notebooks/nbval_sanitize.cfg --nbval-kernel-name colddiff -q --durations=25; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: check tests/ and notebooks/" >&2; fi; exit $$rc

# ---- the main job -------------------------------------------------------------------------------
# PROFILE and FORCE are checked before anything runs or is written
check-args:
	@case "$(PROFILE)" in smoke|cpu|paper) ;; \
	  *) echo "error: PROFILE='$(PROFILE)' is not a profile; use PROFILE=smoke, PROFILE=cpu or PROFILE=paper" >&2; exit 2;; esac
	@case "$(FORCE)" in 0|1|true|false|yes|no|on|off|True|False) ;; \
	  *) echo "error: FORCE='$(FORCE)' is not a yes/no value; use FORCE=1 to retrain or FORCE=0 (default)" >&2; exit 2;; esac
	@for v in "N_EVAL=$(N_EVAL)" "N_GENERATE=$(N_GENERATE)"; do case "$${v#*=}" in "") ;; *[!0-9]*|0*) \
	  echo "error: $${v%%=*}='$${v#*=}' is not a positive number of images; use e.g. $${v%%=*}=1000, or leave it out" >&2; \
	  exit 2;; esac; done

reproduce: check-args setup $(EXECUTED)
	@echo "Results for profile $(PROFILE) are in $(RESULTS)/ (tables/, figures/, executed/)"

$(EXEC)/%.ipynb: notebooks/%.ipynb $(wildcard colddiff_lib/*.py) | check-args setup
	@mkdir -p $(EXEC)
	@echo ">>> $< (PROFILE=$(PROFILE))"
	@$(PY) -m papermill $< $(EXEC)/.partial-$*.ipynb -k colddiff -p PROFILE $(PROFILE) --log-level WARNING \
	  $(if $(N_EVAL),-p N_EVAL $(N_EVAL)) $(if $(N_GENERATE),-p N_GENERATE $(N_GENERATE)) \
	  $$( [ "$${CI:-}" = true ] && echo --no-progress-bar ) \
	  || { echo "ERROR: notebook $< failed (PROFILE=$(PROFILE)); the partial run is $(EXEC)/.partial-$*.ipynb" >&2; exit 1; }
	@mv $(EXEC)/.partial-$*.ipynb $@
	@# the cpu Table 1-3 figures keep their titles in words (claims, shipped models, what was seen): redraw them
	@case "$(PROFILE):$*" in cpu:03_deblurring) t=1;; cpu:04_inpainting) t=2;; cpu:05_super_resolution) t=3;; *) t=;; esac; \
	  [ -z "$$t" ] || $(PY) -m benchmarks.table_figures --tables $$t

table1: check-args setup ; @$(MAKE) --no-print-directory $(EXEC)/03_deblurring.ipynb
table2: check-args setup ; @$(MAKE) --no-print-directory $(EXEC)/04_inpainting.ipynb
table3: check-args setup ; @$(MAKE) --no-print-directory $(EXEC)/05_super_resolution.ipynb
table4: check-args setup ; @$(MAKE) --no-print-directory $(EXEC)/06_snowification.ipynb
table5 figure21: check-args setup ; @$(MAKE) --no-print-directory $(EXEC)/07_generation.ipynb

# in JupyterLab the parameters cell decides the profile (make's COLDDIFF_PROFILE would contradict an edited one)
lab: setup
	env -u COLDDIFF_PROFILE $(VENV)/bin/jupyter lab notebooks/

bench: setup
	$(PY) -m benchmarks

# The GPU campaign (benchmarks/gpu_campaign.py): `make gpu-prepare` here writes .gpu/ (MNIST as IDX
# files and the wheels a bare GPU machine lacks); `make gpu-check` there runs every stage.
gpu-prepare: setup
	$(PY) -m benchmarks.gpu_campaign --prepare .gpu

gpu-check:
	bash benchmarks/gpu_campaign.sh $(GPU_ARGS)

clean-results: check-args
	rm -rf -- "$(RESULTS)/executed"
