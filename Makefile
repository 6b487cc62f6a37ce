# Quick start: `make demo` then `make test`. Every target sets up what it needs.
SHELL := /bin/bash
PYTHON_BOOTSTRAP ?= python3
VENV ?= .venv
PYTHON := $(VENV)/bin/python
PIP := $(PYTHON) -m pip
REPOSITORY ?= model_repository
EXPORT_DIR ?= build/export
# Real checkpoints (default: random weights), e.g. make repository QUARTZNET_NEMO=QuartzNet15x5Base-En.nemo
QUARTZNET_NEMO ?=
PUNCTUATOR_NEMO ?=
TACOTRON2_CHECKPOINT ?=
WAVEGLOW_CHECKPOINT ?=
# Builder settings (see `python -m ensembles --help`)
REPOSITORY_FLAGS ?=
PYTEST_FLAGS ?=

.PHONY: setup export repository serve demo test bench clean
.DEFAULT_GOAL := demo

setup: $(VENV)/.installed

# torch first, from the local CPU wheel, then everything else under constraints that keep it (and
# numpy<2, which the bundled python backend needs). nvidia-pytriton is installed for its tritonserver
# binary only, without its Python-API dependencies.
$(VENV)/.installed: pyproject.toml requirements/constraints.txt
	@echo "== setting up $(VENV) (about 2-3 minutes on a fresh machine)"
	test -x $(PYTHON) || $(PYTHON_BOOTSTRAP) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -c requirements/constraints.txt -e ".[export,test]"
	$(PIP) install -q --no-deps nvidia-pytriton==0.7.0
	@command -v espeak-ng >/dev/null && command -v sox >/dev/null || \
	  { if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq espeak-ng sox >/dev/null; \
	    else echo "note: install espeak-ng and sox (apt-get) for spoken samples"; fi; }
	$(PYTHON) -c "import numpy, tritonclient; assert numpy.__version__ < '2', numpy.__version__"
	touch $@

# One export per model; a checkpoint named on the command line is always exported (never a stale
# earlier export), and without one each export builds random weights and says so.
EXPORTS := quartznet punctuator tacotron2 waveglow
export: $(foreach model,$(EXPORTS),$(EXPORT_DIR)/$(model)/export.json)

CHECKPOINT_quartznet := $(if $(QUARTZNET_NEMO),--nemo $(QUARTZNET_NEMO))
CHECKPOINT_punctuator := $(if $(PUNCTUATOR_NEMO),--nemo $(PUNCTUATOR_NEMO))
CHECKPOINT_tacotron2 := $(if $(TACOTRON2_CHECKPOINT),--checkpoint $(TACOTRON2_CHECKPOINT))
CHECKPOINT_waveglow := $(if $(WAVEGLOW_CHECKPOINT),--checkpoint $(WAVEGLOW_CHECKPOINT))
$(foreach model,$(EXPORTS),$(if $(CHECKPOINT_$(model)),$(eval $(EXPORT_DIR)/$(model)/export.json: FORCE)))
FORCE:

$(EXPORT_DIR)/%/export.json: | setup
	$(PYTHON) -m export $* $(CHECKPOINT_$*) --output $(EXPORT_DIR)/$*

repository: export
	$(PYTHON) -m ensembles --output $(REPOSITORY) --asr-export $(EXPORT_DIR)/quartznet \
	  --punctuator-export $(EXPORT_DIR)/punctuator --tacotron2-export $(EXPORT_DIR)/tacotron2 \
	  --waveglow-export $(EXPORT_DIR)/waveglow $(REPOSITORY_FLAGS)

serve: repository
	$(PYTHON) -m triton_speech.server --model-repository $(REPOSITORY)

demo: repository
	$(PYTHON) -m client.demo --model-repository $(REPOSITORY)

test: setup
	$(PYTHON) -m pytest $(PYTEST_FLAGS)

bench: repository
	$(PYTHON) -m benchmarks --model-repository $(REPOSITORY) --asr-export $(EXPORT_DIR)/quartznet \
	  --punctuator-export $(EXPORT_DIR)/punctuator --tacotron2-export $(EXPORT_DIR)/tacotron2 \
	  --waveglow-export $(EXPORT_DIR)/waveglow

# Generated files are exactly what .gitignore marks under these paths.
clean:
	git clean -fdXq -- $(REPOSITORY) build samples
