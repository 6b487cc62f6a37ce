"""``python -m export.train_tts``, as users type it: runs ``triton_speech.training.train_tts``."""

import runpy

if __name__ == "__main__":
    runpy.run_module("triton_speech.training.train_tts", run_name="__main__", alter_sys=True)
