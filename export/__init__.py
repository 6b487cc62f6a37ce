"""The commands ``python -m export ...`` users type; the code is in ``triton_speech.export`` (checkpoint -> ONNX)
and ``triton_speech.training`` (corpora, training, evaluation)."""
