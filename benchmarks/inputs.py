"""``python -m benchmarks.inputs``, as users type it: runs ``triton_speech.benchmarks.inputs``."""

import runpy

if __name__ == "__main__":
    runpy.run_module("triton_speech.benchmarks.inputs", run_name="__main__", alter_sys=True)
