"""``python -m ensembles`` as users type it; the code is in ``triton_speech.ensembles``."""
