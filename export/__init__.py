"""Export published checkpoints to ONNX artifacts for the model repository."""
