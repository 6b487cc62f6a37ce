"""LOGPROBS [B, T, classes], LOGPROBS_LENGTH -> TRANSCRIPT [B, 1] (greedy CTC, or beam search over a lexicon or with
an n-gram language model), and when asked WORDS, WORD_START_S, WORD_END_S, WORD_CONFIDENCE [B, W] (each word's
frames times the stride)."""

import triton_python_backend_utils as pb_utils

from triton_speech.runtime.asr.ctc import load_decoder
from triton_speech.runtime.asr.words import pack_words, requested_words
from triton_speech.runtime.backend import ModelArgs, bytes_column, ragged_input, serve
from triton_speech.runtime.model_settings import CTCDecoderSettings


class TritonPythonModel:
    def initialize(self, args):
        model = ModelArgs(args)
        settings = model.settings(CTCDecoderSettings)
        self.decoder = load_decoder(model.directory / settings.labels, **settings.decoder_arguments(model.directory))
        self.max_frames = settings.max_frames
        self.frame_seconds = settings.frame_seconds

    def execute(self, requests):
        return serve(pb_utils, requests, self.parse, self.compute, self.pack)

    def parse(self, request):
        rows = ragged_input(pb_utils, request, "LOGPROBS", "LOGPROBS_LENGTH", axis=0, max_length=self.max_frames)
        timed = requested_words(request)  # a client that asks only for text pays for no word alignment
        return [(logprobs, timed) for logprobs in rows]

    def compute(self, rows):
        return [self.decoder.words(logprobs, self.frame_seconds) if timed else self.decoder(logprobs)
                for logprobs, timed in rows]

    def pack(self, results):
        if all(isinstance(result, str) for result in results):
            return [pb_utils.Tensor("TRANSCRIPT", bytes_column(results))]
        texts = [" ".join(word.text for word in words) for words in results]
        return [pb_utils.Tensor("TRANSCRIPT", bytes_column(texts)),
                *(pb_utils.Tensor(name, array) for name, array in pack_words(results).items())]
