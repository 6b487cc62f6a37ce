"""``python -m ensembles``, as users type it: runs ``triton_speech.ensembles``."""

import runpy

if __name__ == "__main__":
    runpy.run_module("triton_speech.ensembles", run_name="__main__", alter_sys=True)
