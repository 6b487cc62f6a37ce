"""Defaults, defined once: the engines, the repository builder, the clients and the training tools read them here.

Each is a setting somewhere else (a builder flag, a config parameter, a client option); this module only says
what it is when nobody sets it.
"""

import os
from collections.abc import Callable
from typing import TypeVar

_T = TypeVar("_T")


def from_env(name: str, cast: Callable[[str], _T] = str) -> _T:
    """The setting ``name`` where it is an environment variable of the same name (TRITON_HTTP_PORT, ...): the
    variable's value, or this module's default when it is unset or empty (an empty variable is no setting)."""
    value = os.environ.get(name)
    return cast(value) if value else globals()[name]

# Audio rates: QuartzNet's front end (NeMo's 16 kHz models) and Tacotron2 / WaveGlow (DLE's LJSpeech 22050 Hz).
ASR_SAMPLE_RATE = 16000
TTS_SAMPLE_RATE = 22050

# Serving (python -m ensembles): dynamic batching and request limits.
MAX_BATCH_SIZE = 16
# The dynamic batcher takes what queued while the instance was busy; waiting for more only delays a request: at
# 2000 us each step of the asr ensemble waited 2.2 ms at concurrency 1 (a 2 s clip: 8.8 ms of queue beside 14 ms of
# compute, RTFx 82 vs 114 without), and batched no better under load (perf_analyzer, shared 2-core machine).
MAX_QUEUE_DELAY_US = 0
MAX_AUDIO_SECONDS = 60.0  # asr: longer audio is refused, never truncated
MAX_PUNCTUATION_CHARS = 5000  # a 60 s transcript is about 1000 characters; long texts are windowed
MAX_TEXT_CHARS = 1000  # tts request text
MAX_SENTENCE_CHARS = 250  # tts text is split into sentences of at most this many characters
MAX_SPEECH_SECONDS = 150.0  # the longest audio one tts request yields (about twice 1000 characters of speech)

# ONNX Runtime's CPU threads: whether they spin for more work after a run (ONNX Runtime's default) or sleep. Served,
# several python models (each a process with its own thread pool) share the cores, and one model's spinning threads
# take them from the next step of the same request: on the shared 2-core machine the asr ensemble served a 2 s clip
# in 27 ms (p99, alone) with sleeping threads and 175 ms with spinning ones (RTFx 125 vs 22; perf_analyzer,
# benchmarks/results/perf.md).
ONNX_SPINNING = False

# TensorRT engines of the ngc target (ONNX Runtime's TensorRT accelerator): one folder per model under this path in
# the container, a volume that outlives it (building an engine takes minutes); the launcher creates the folders.
NGC_ENGINE_CACHE_DIR = "/engine_cache"

# Long recordings (asr_long, and the clients for audio longer than max_audio_seconds): overlapping windows, each a
# request to asr, merged by word time.
MAX_LONG_AUDIO_SECONDS = 3600.0  # asr_long's request limit (230 MB of float32 samples)
LONG_WINDOW_SECONDS = 30.0
LONG_OVERLAP_SECONDS = 5.0
LONG_WINDOWS_IN_FLIGHT = 8  # asr_long: windows sent to asr at once, for batches of at most this many long windows

# Streaming (asr_streaming): after each chunk the model runs over the last STREAM_BUFFER_SECONDS of the stream
# for the partial transcript; at END over the whole stream (as asr, or in asr_long's windows when longer).
STREAM_CHUNK_MS = 320  # what the client sends per request
STREAM_BUFFER_SECONDS = 2.0
# A frame's log-probs are kept (and decoded once) when this much audio follows it: the default QuartzNet's frames
# agree with its whole-utterance ones 32% of the time with 0.5 s of audio after them, 84% with 1 s, 92% with 2 s
# (argmax, 30 held-out clips), and partials hearing 1 s agree better with the truth than partials over a
# re-run 2 s buffer (benchmarks/results/streaming.md)
STREAM_LOOKAHEAD_SECONDS = 1.0
# Partials' beam search width (the final transcript is decoded with CTC_BEAM_SIZE, as offline): on the held-out set
# beam 8 misses one word more than 32 (WER 2.90% vs 2.68%) and costs a fifth on the speech the default model hears
# least well
STREAM_BEAM_SIZE = 8
# ONNX Runtime threads of asr_streaming: its runs (a batch of short windows) alternate with the decoder's Python in
# one thread, and a second ONNX Runtime thread only contends with it and with gRPC for two cores (INT8 windows of
# 16 streams: 62 ms on one thread, 171 ms on two, on the shared 2-core machine)
STREAM_ONNX_THREADS = 1
# Instances of a model when --instances does not name it (others: one). asr_streaming's work per chunk is mostly
# Python (the decoder), one core per process: two processes use both cores, each with its own streams (Triton's
# sequence batcher keeps a stream on the instance that took its START).
MODEL_INSTANCES = {"asr_streaming": 2}
MAX_STREAM_SECONDS = 600.0  # a stream keeps its audio for the final transcript: 38 MB at most
STREAM_IDLE_SECONDS = 10.0  # a stream that sends nothing for this long is freed (an open one delays a graceful stop)
MAX_STREAMS = 64  # streams the sequence batcher serves at once; more wait for a slot

# CTC decoding: beam width of the beam-search decoders; the n-gram LM's weight and word bonus (pyctcdecode's alpha
# and beta) when decoding with a language model.
CTC_BEAM_SIZE = 32
LM_ALPHA = 0.5
LM_BETA = 1.0

# Punctuation windows (NeMo's punctuation model defaults: max_seq_length, step, margin in tokens).
PUNCTUATION_MAX_SEQ_LENGTH = 64
PUNCTUATION_STEP = 8
PUNCTUATION_MARGIN = 16

# The text front-end of a Tacotron2 checkpoint that records none (NVIDIA's published ones): DeepLearningExamples' own
# english_cleaners and symbol ids ("dle"); "extended" is this project's readings (runtime/tts/text.py). A checkpoint
# trained here records the one it was trained with, and its export serves that one.
TEXT_NORMALIZATION = "dle"

# Tacotron2's decoder loop (DLE's inference defaults) and the vocoders.
GATE_THRESHOLD = 0.5
MAX_DECODER_STEPS = 2000
PRENET_DROPOUT = 0.5  # DLE keeps the prenet's dropout on at inference
SIGMA = 0.666  # WaveGlow's noise scale at inference (training uses 1.0)
DENOISER_STRENGTH = 0.0
GRIFFIN_LIM_ITERATIONS = 32

# Streaming TTS (tts_streaming): decoder frames of a chunk within a sentence (0.37 s of speech), and Griffin-Lim's
# context: the frames vocoded on either side of a chunk and cropped. The phase recovery's 32 iterations reach further,
# but their effect fades: on the same mel, windows with 24 frames of context are within 94 dB SNR of the whole mel at
# once (16 frames: 50 dB). Joined chunks against `tts`: 38-99 dB, median 69 dB (19 texts x 2 seeds), the same with 32
# or 40 frames: the rest is float rounding of the postnet on windows (1e-5) that Griffin-Lim amplifies.
STREAM_BLOCK_FRAMES = 32
GRIFFIN_LIM_CONTEXT_FRAMES = 24
# The Triton launcher (python -m triton_speech.server, make serve) and the clients' default address: each is also an
# environment variable of the same name (TRITON_HTTP_PORT, ...).
TRITON_ADDRESS = "127.0.0.1"  # loopback unless asked: anyone who reaches the ports can send inference requests
TRITON_HTTP_PORT = 8000
TRITON_GRPC_PORT = 8001
TRITON_METRICS_PORT = 8002
TRITON_GRACE_SECONDS = 30.0  # how long a stop lets accepted requests finish before the server is killed
CLIENT_RETRIES = 6  # the Python clients: tries after the first of a request the server cannot take for now (~10 s)
# The gateway (python -m triton_speech.gateway, make app): REST API and web app in front of Triton.
APP_HOST = "127.0.0.1"  # loopback unless asked
APP_PORT = 8080
DATABASE_URL = "sqlite:///build/app/gateway.sqlite3"
MEDIA_DIR = "build/app/media"
# Media in a bucket (APP_MEDIA_URL): an object no row names is swept only when older than this (a write whose row is
# on its way is milliseconds old; the database gives up connecting after seconds)
MEDIA_SWEEP_GRACE_SECONDS = 300.0
MAX_UPLOAD_BYTES = 25 * 1024 * 1024  # what OpenAI's /v1/audio/transcriptions accepts
# Host headers the gateway answers (others are a DNS-rebinding page or a misrouted request); the address it listens
# on is added when it is not a wildcard.
ALLOWED_HOSTS = ("localhost", "127.0.0.1", "::1")
# Per API key: requests in a moving window (the `limits` notation), and inference requests in flight at once. A
# person at the page sends about three requests per action; one TTS request of 1000 characters holds the server
# for seconds.
RATE_LIMIT = "120/minute"
MAX_CONCURRENT_INFERENCE = 4
LOCAL_KEY_FILE = "build/app/local-api-key"  # make app's key, readable by its owner only
# The gateway's tries after the first of a request Triton cannot take for now: about 3 s of waits, longer than a
# model's reload after its python stub died (1.5-2.2 s), and a person still gets a 503 soon when Triton is away
GATEWAY_TRITON_RETRIES = 4
# The local fleet (python -m triton_speech.fleet, make fleet): Triton replicas (FLEET_REPLICAS) and gateways behind
# one balancer; its logs, configuration and keys under FLEET_RUN_DIR.
FLEET_REPLICAS = 2
FLEET_GATEWAYS = 2
FLEET_RUN_DIR = "build/fleet"
# Leading silence the gateway trims from recordings before the asr request (frames this far below the loudest
# 10 ms frame are silence): the default QuartzNet was trained on clips that start with speech and end in about
# 0.3 s of silence. Measured on 30 held-out clips given 0.5 s of silence before and 1 s after (with a -60 dB noise
# floor): WER 80% as sent, 3.4% trimmed (2.6% -> 3.4% on the clips as they are).
TRIM_SILENCE_DB = -40.0
TRIM_LEAD_S = 0.02  # kept before the first sound
TRIM_TAIL_S = 0.5  # kept after the last sound
# Live captions (the gateway's WebSocket, /api/transcriptions/live): the longest live recording (asr_streaming's own
# limit; its final transcript goes to asr_long beyond the upload limit), the most audio one frame may carry, how far
# a stream's audio may run ahead of the clock (a microphone cannot: a client that sends faster costs Triton a
# partial pass per chunk far faster than anyone speaks), and how long a stream may send nothing before the gateway
# ends it (below STREAM_IDLE_SECONDS, after which asr_streaming refuses the stream's next chunk).
MAX_LIVE_SECONDS = MAX_STREAM_SECONDS
LIVE_MAX_FRAME_SECONDS = 1.0
LIVE_AHEAD_SECONDS = 5.0
LIVE_IDLE_SECONDS = 5.0
# The Riva-compatible gRPC API (triton_speech.riva), served by the gateway process beside the REST API on APP_HOST.
RIVA_PORT = 50051  # Riva's own: the Riva clients' --server default is localhost:50051
RIVA_LANGUAGE_CODE = "en-US"  # the one language the served models speak; an empty language_code means it
# The voice as Riva clients name it: "<voice_name>.<subvoice>" (what talk.py --list-voices prints)
RIVA_VOICE_NAME = "English-US"
RIVA_SUBVOICE = "Default"
# The largest gRPC message the endpoint reads (Recognize's whole audio: 64 MiB is 35 minutes of 16 kHz 16-bit PCM;
# asr_long's hour fits as FLAC or Opus). gRPC refuses larger ones with RESOURCE_EXHAUSTED before they are read.
RIVA_MAX_MESSAGE_BYTES = 64 * 1024 * 1024
# Text in one request (Synthesize, PunctuateText): longer is refused at once, never forwarded; the models' own
# limits (MAX_TEXT_CHARS, MAX_PUNCTUATION_CHARS) apply below it and Triton names them.
RIVA_MAX_TEXT_CHARS = 100_000
RIVA_MAX_TEXTS = 64  # texts in one PunctuateText request
RIVA_MAX_WAV_HEADER_BYTES = 65536  # a streamed WAV's header (RIFF chunks before "data") must end within this
