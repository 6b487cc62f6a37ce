"""``python -m export {quartznet,punctuator,tacotron2,waveglow}``, as users type it: runs ``triton_speech.export``."""

import runpy

if __name__ == "__main__":
    runpy.run_module("triton_speech.export", run_name="__main__", alter_sys=True)
