"""``python -m export.lexicon``, as users type it: runs ``triton_speech.training.lexicon``."""

import runpy

if __name__ == "__main__":
    runpy.run_module("triton_speech.training.lexicon", run_name="__main__", alter_sys=True)
