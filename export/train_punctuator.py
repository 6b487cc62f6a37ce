"""``python -m export.train_punctuator``, as users type it: runs ``triton_speech.training.train_punctuator``."""

import runpy

if __name__ == "__main__":
    runpy.run_module("triton_speech.training.train_punctuator", run_name="__main__", alter_sys=True)
