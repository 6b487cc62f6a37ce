"""Corpus generation, training and evaluation of the default models (general English, several synthesizers,
an independent Whisper judge, an n-gram language model)."""
