"""Corpora, training and evaluation of the default models (they are trained here, on data the project makes)."""
