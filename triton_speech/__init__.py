"""Speech models served by NVIDIA Triton: one package, one sub-package per job.

``runtime`` (what the served model.py files run), ``models`` (PyTorch classes for checkpoints), ``export``
(checkpoint -> ONNX), ``training`` (corpora, training, evaluation), ``ensembles`` (repository descriptions and
the builder), ``client``, ``benchmarks``; ``server`` starts Triton, ``demo`` is ``make demo``, ``defaults`` holds
every default value. Dependencies point one way: runtime <- models <- export, training.
"""
