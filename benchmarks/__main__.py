"""``python -m benchmarks``, as users type it: runs ``triton_speech.benchmarks``."""

import runpy

if __name__ == "__main__":
    runpy.run_module("triton_speech.benchmarks", run_name="__main__", alter_sys=True)
