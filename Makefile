# Quick start: `make demo` then `make test`. Every target sets up what it needs.
SHELL := /bin/bash
PYTHON_BOOTSTRAP ?= python3
VENV ?= .venv
PYTHON := $(VENV)/bin/python
PIP := $(PYTHON) -m pip
REPOSITORY ?= model_repository
EXPORT_DIR ?= build/export
# Checkpoints. Defaults: the small models trained here and shipped in defaults (`make train-asr`, `make train-tts`,
# `make train-punctuator`); with none, the export builds random weights and says so. Real ones, e.g.
# make repository QUARTZNET_NEMO=QuartzNet15x5Base-En.nemo
DEFAULTS := defaults
QUARTZNET_NEMO ?= $(wildcard $(DEFAULTS)/quartznet_small.nemo)
PUNCTUATOR_NEMO ?= $(wildcard $(DEFAULTS)/punctuator_small.nemo)
TACOTRON2_CHECKPOINT ?= $(wildcard $(DEFAULTS)/tacotron2_small.pt)
WAVEGLOW_CHECKPOINT ?= $(wildcard $(DEFAULTS)/waveglow_small.pt)
# CTC decoding over a word list (python -m ensembles --lexicon): the default model's list (the words of its
# training transcripts, python -m export.lexicon) goes with the default model only; other models decode greedily
# unless given one, e.g. make repository QUARTZNET_NEMO=x.nemo QUARTZNET_LEXICON=words.txt
QUARTZNET_LEXICON ?= $(if $(filter $(DEFAULTS)/quartznet_small.nemo,$(QUARTZNET_NEMO)),$(wildcard $(DEFAULTS)/quartznet_small.lexicon.txt))
# The tts vocoder: WaveGlow given a checkpoint; else Griffin-Lim (no weights), never a random WaveGlow's noise.
VOCODER ?= $(if $(WAVEGLOW_CHECKPOINT),waveglow,griffin_lim)
DATA_DIR ?= build/data
# The training mix of the last default runs: 30% of utterances unaugmented, 15% in espeak-ng's own voices.
DATA_FLAGS ?= --clean-fraction 0.3 --base-voice-fraction 0.15
TTS_DATA_DIR ?= build/tts_data
# Minutes of training for each TTS model (they train side by side, one core each).
TTS_MINUTES ?= 90
# Builder settings (see `python -m ensembles --help`)
REPOSITORY_FLAGS ?=
PYTEST_FLAGS ?=
# make app: the gateway's port (it listens on 127.0.0.1 only)
APP_PORT ?= 8080
CHROMIUM ?= /usr/lib/chromium/chromium

.PHONY: setup export repository serve app demo test lint mutation bench perf clean data train-asr train-punctuator \
	tts-data train-tts train-tacotron2 train-waveglow soak
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
	$(PIP) install -q -c requirements/constraints.txt -e ".[export,test,bench,app]"
	$(PIP) install -q --no-deps nvidia-pytriton==0.7.0
	@command -v espeak-ng >/dev/null && command -v sox >/dev/null || \
	  { if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq espeak-ng sox >/dev/null; \
	    else echo "note: install espeak-ng and sox (apt-get) for spoken samples"; fi; }
	@# Debian's chromium for the web app's browser test (Playwright drives it; no browser download)
	@test -x $(CHROMIUM) || \
	  { if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	    else echo "note: install chromium (apt-get) for the web app's browser test"; fi; }
	$(PYTHON) -c "import numpy, tritonclient; assert numpy.__version__ < '2', numpy.__version__"
	@# perf_analyzer (from the tritonclient wheel) needs plain-named links to two bundled libraries
	$(PYTHON) -c "from triton_speech.server import bundled_library_dir; bundled_library_dir()"
	touch $@

# One export per model, redone when the checkpoint asked for changes (the name or the file) or the
# export code changes: never a stale earlier export.
EXPORTS := quartznet punctuator tacotron2 waveglow
export: $(foreach model,$(EXPORTS),$(EXPORT_DIR)/$(model)/export.json)

CHECKPOINT_VARIABLE_quartznet := QUARTZNET_NEMO
CHECKPOINT_VARIABLE_punctuator := PUNCTUATOR_NEMO
CHECKPOINT_VARIABLE_tacotron2 := TACOTRON2_CHECKPOINT
CHECKPOINT_VARIABLE_waveglow := WAVEGLOW_CHECKPOINT
CHECKPOINT_FLAG_quartznet := --nemo
CHECKPOINT_FLAG_punctuator := --nemo
CHECKPOINT_FLAG_tacotron2 := --checkpoint
CHECKPOINT_FLAG_waveglow := --checkpoint
checkpoint = $($(CHECKPOINT_VARIABLE_$(1)))
$(foreach model,$(EXPORTS),$(eval $(EXPORT_DIR)/$(model)/export.json: $(call checkpoint,$(model))))

# checkpoint.txt holds the checkpoint the export was asked for, rewritten (while make reads this file)
# only when that changes, so that its date says when the request last changed.
$(foreach model,$(EXPORTS),$(shell mkdir -p $(EXPORT_DIR)/$(model) && echo '$(call checkpoint,$(model))' \
  | cmp -s - $(EXPORT_DIR)/$(model)/checkpoint.txt || echo '$(call checkpoint,$(model))' > $(EXPORT_DIR)/$(model)/checkpoint.txt))

$(EXPORT_DIR)/%/export.json: $(EXPORT_DIR)/%/checkpoint.txt $(wildcard triton_speech/export/*.py triton_speech/models/*.py) | setup
	$(PYTHON) -m triton_speech.export $* $(if $(call checkpoint,$*),$(CHECKPOINT_FLAG_$*) $(call checkpoint,$*)) --output $(EXPORT_DIR)/$*

# Synthetic speech corpus (espeak-ng + sox) and the default ASR model trained on it (the shipped one: nine
# runs chained with --init, 383 min on 2 CPU cores; defaults/quartznet_small.json has the commands).
data: $(DATA_DIR)/train.json
$(DATA_DIR)/train.json: | setup
	$(PYTHON) -m triton_speech.training.asr_data --output $(DATA_DIR) --exclude tests/data/asr_heldout/manifest.json $(DATA_FLAGS)

train-asr: data
	$(PYTHON) -m triton_speech.training.train_asr --data $(DATA_DIR) --output $(DEFAULTS)/quartznet_small.nemo

# One espeak-ng voice for the default Tacotron2 + WaveGlow; `make -j2 train-tts` trains both at once.
tts-data: $(TTS_DATA_DIR)/train.json
$(TTS_DATA_DIR)/train.json: | setup
	$(PYTHON) -m triton_speech.training.train_tts data --output $(TTS_DATA_DIR)

train-tts: train-tacotron2 train-waveglow
train-tacotron2: tts-data
	$(PYTHON) -m triton_speech.training.train_tts tacotron2 --data $(TTS_DATA_DIR) --minutes $(TTS_MINUTES) --threads 1 \
	  --output $(DEFAULTS)/tacotron2_small.pt
train-waveglow: tts-data
	$(PYTHON) -m triton_speech.training.train_tts waveglow --data $(TTS_DATA_DIR) --minutes $(TTS_MINUTES) --threads 1 --fp16 \
	  --output $(DEFAULTS)/waveglow_small.pt

repository: export
	$(PYTHON) -m triton_speech.ensembles --output $(REPOSITORY) --asr-export $(EXPORT_DIR)/quartznet \
	  --punctuator-export $(EXPORT_DIR)/punctuator --tacotron2-export $(EXPORT_DIR)/tacotron2 \
	  --waveglow-export $(EXPORT_DIR)/waveglow $(if $(QUARTZNET_LEXICON),--lexicon $(QUARTZNET_LEXICON)) \
	  --vocoder $(VOCODER) $(REPOSITORY_FLAGS)

serve: repository
	$(PYTHON) -m triton_speech.server --model-repository $(REPOSITORY)

# Triton (ports as make serve) and the gateway: REST API and web app on 127.0.0.1:$(APP_PORT); Ctrl-C stops both.
# Stored results: DATABASE_URL (default a SQLite file in build/app/), APP_MEDIA_DIR.
app: repository
	APP_PORT=$(APP_PORT) $(PYTHON) -m triton_speech.gateway --model-repository $(REPOSITORY)

demo: repository
	$(PYTHON) -m triton_speech.demo --model-repository $(REPOSITORY)

test: setup
	$(PYTHON) -m pytest $(PYTEST_FLAGS)

# Mutation testing of the pure modules ([tool.mutmut] in pyproject.toml) against the tests that need no export
# or server: score and surviving mutants in build/mutation/report.md. Not part of `make test`.
mutation: setup
	$(PIP) install -q -c requirements/constraints.txt -e ".[mutation]"
	rm -rf mutants
	$(PYTHON) -m mutmut run --max-children 2 || true
	$(PYTHON) tools/mutation_report.py build/mutation/report.md

# ruff over the whole tree (pyproject.toml [tool.ruff]); CI runs it before the tests.
lint: setup
	$(PYTHON) -m ruff check .

# Benchmark knobs (`python -m benchmarks --help`), e.g. BENCH_FLAGS="--perf-seconds 5 --tune-instances 1".
# The NeMo baseline needs the .nemo of the QuartzNet export (random weights: written by the benchmark).
BENCH_FLAGS ?=
BENCH_ARGS = --model-repository $(REPOSITORY) --asr-export $(EXPORT_DIR)/quartznet \
	  --punctuator-export $(EXPORT_DIR)/punctuator --tacotron2-export $(EXPORT_DIR)/tacotron2 \
	  --waveglow-export $(EXPORT_DIR)/waveglow $(if $(QUARTZNET_NEMO),--quartznet-nemo $(QUARTZNET_NEMO)) $(BENCH_FLAGS)

bench: repository
	$(PYTHON) -m triton_speech.benchmarks $(BENCH_ARGS)

# Minutes of mixed good and bad load against the built repository, with a stub killed halfway
# (SOAK_MINUTES, SOAK_CONCURRENCY); writes benchmarks/results/soak.md.
soak: repository
	SOAK_REPOSITORY=$(REPOSITORY) $(PYTHON) -m pytest -m soak -s -p no:cacheprovider tests/test_soak.py

# perf_analyzer sweeps of asr, punctuator and tts only
perf: repository
	$(PYTHON) -m triton_speech.benchmarks --only perf $(BENCH_ARGS)

# Retrain the shipped default punctuator (defaults/punctuator_small.nemo, its .json summary and its held-out
# set, .heldout.json): a few minutes on CPU.
train-punctuator: | setup
	$(PYTHON) -m triton_speech.training.train_punctuator

# Generated files are exactly what .gitignore marks under these paths.
clean:
	git clean -fdXq -- $(REPOSITORY) build samples
