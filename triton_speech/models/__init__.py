"""PyTorch classes of the served models that load published checkpoints (NeMo `.nemo`, DLE `.pt`); shared by
`triton_speech.export` and `triton_speech.training`, importing neither."""
