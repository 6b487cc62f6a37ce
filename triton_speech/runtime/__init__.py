"""What the served ``model.py`` files import (numpy, ONNX Runtime, no PyTorch): request plumbing and checks,
and the ASR, punctuation and TTS engines, which also run in-process (``asr.pipeline``, ``tts.pipeline``)."""
