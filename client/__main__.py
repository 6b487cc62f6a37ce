"""``python -m client {asr,tts,punctuate}``, as users type it: runs ``triton_speech.client``."""

import runpy

if __name__ == "__main__":
    runpy.run_module("triton_speech.client", run_name="__main__", alter_sys=True)
