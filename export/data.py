"""``python -m export.data``, as users type it: runs ``triton_speech.training.asr_data``."""

import runpy

if __name__ == "__main__":
    runpy.run_module("triton_speech.training.asr_data", run_name="__main__", alter_sys=True)
