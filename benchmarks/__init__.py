"""``python -m benchmarks`` as users type it, and the benchmarks' results (``results/``); the code is in
``triton_speech.benchmarks``."""
