"""``python -m export.train_asr``, as users type it: runs ``triton_speech.training.train_asr``."""

import runpy

if __name__ == "__main__":
    runpy.run_module("triton_speech.training.train_asr", run_name="__main__", alter_sys=True)
