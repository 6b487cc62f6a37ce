"""TEXT [B, 1] -> SYMBOL_IDS [B, N], SENTENCE_LENGTHS [B, S] (the checkpoint's text normalization, sentence split,
symbol ids)."""

import triton_python_backend_utils as pb_utils

from triton_speech.runtime.backend import ModelArgs, serve, text_inputs
from triton_speech.runtime.model_settings import TextNormalizerSettings
from triton_speech.runtime.tts.sentences import pack_sentences, sentence_sequences
from triton_speech.runtime.tts.text import check_normalization


class TritonPythonModel:
    def initialize(self, args):
        settings = ModelArgs(args).settings(TextNormalizerSettings)
        self.max_text_chars, self.max_sentence_chars = settings.max_text_chars, settings.max_sentence_chars
        self.normalization = check_normalization(settings.text_normalization)

    def execute(self, requests):
        return serve(pb_utils, requests, self.parse, lambda rows: rows, self.pack)

    def parse(self, request):
        # Normalizing here, per request, lets unspeakable text fail alone.
        texts = text_inputs(pb_utils, request, "TEXT", self.max_text_chars)
        return [sentence_sequences(text, self.max_sentence_chars, f"TEXT row {row}", self.normalization)
                for row, text in enumerate(texts)]

    def pack(self, rows):
        ids, lengths = pack_sentences(rows)
        return [pb_utils.Tensor("SYMBOL_IDS", ids), pb_utils.Tensor("SENTENCE_LENGTHS", lengths)]
