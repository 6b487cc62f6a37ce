"""Checkpoints -> ONNX artifacts with their parity checks: ``python -m export {quartznet,punctuator,tacotron2,
waveglow}`` (``python -m triton_speech.export``)."""
