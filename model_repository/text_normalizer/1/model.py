"""TEXT [B, 1] -> SYMBOL_IDS [B, N], SENTENCE_LENGTHS [B, S] (english_cleaners, sentence split, symbol ids)."""

import numpy as np
import triton_python_backend_utils as pb_utils

from triton_speech.backend import ModelArgs, serve, text_inputs
from triton_speech.batching import pad_batch
from triton_speech.tts import sentence_sequences


class TritonPythonModel:
    def initialize(self, args):
        model = ModelArgs(args)
        self.max_text_chars = int(model.parameter("max_text_chars"))
        self.max_sentence_chars = int(model.parameter("max_sentence_chars"))

    def execute(self, requests):
        return serve(pb_utils, requests, self.parse, lambda rows: rows, self.pack)

    def parse(self, request):
        # Normalizing here, per request, lets unspeakable text fail alone.
        texts = text_inputs(pb_utils, request, "TEXT", self.max_text_chars)
        return [sentence_sequences(text, self.max_sentence_chars) for text in texts]

    def pack(self, rows):
        ids, _ = pad_batch([np.concatenate(sentences) for sentences in rows], axis=0)
        lengths, _ = pad_batch([np.array([len(s) for s in sentences], dtype=np.int64) for sentences in rows], axis=0)
        return [pb_utils.Tensor("SYMBOL_IDS", ids), pb_utils.Tensor("SENTENCE_LENGTHS", lengths)]
