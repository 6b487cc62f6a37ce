"""``python -m export.evaluate_asr``, as users type it: runs ``triton_speech.training.evaluate_asr``."""

import runpy

if __name__ == "__main__":
    runpy.run_module("triton_speech.training.evaluate_asr", run_name="__main__", alter_sys=True)
