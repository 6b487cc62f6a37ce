"""LOGPROBS [B, T, classes], LOGPROBS_LENGTH -> TRANSCRIPT [B, 1]: greedy CTC, or beam search over a lexicon or with
an n-gram language model."""

import triton_python_backend_utils as pb_utils

from triton_speech.defaults import CTC_BEAM_SIZE, LM_ALPHA, LM_BETA
from triton_speech.runtime.asr.ctc import load_decoder
from triton_speech.runtime.backend import ModelArgs, bytes_column, ragged_input, serve


class TritonPythonModel:
    def initialize(self, args):
        model = ModelArgs(args)
        optional = {name: model.path(name) if name in model.parameters else None for name in ("lexicon", "lm")}
        self.decoder = load_decoder(model.path("labels"), optional["lexicon"],
                                    int(model.parameter("beam_size", str(CTC_BEAM_SIZE))), optional["lm"],
                                    float(model.parameter("lm_alpha", str(LM_ALPHA))),
                                    float(model.parameter("lm_beta", str(LM_BETA))))
        self.max_frames = int(model.parameter("max_frames"))

    def execute(self, requests):
        return serve(pb_utils, requests, self.parse, self.compute, self.pack)

    def parse(self, request):
        return ragged_input(pb_utils, request, "LOGPROBS", "LOGPROBS_LENGTH", axis=0, max_length=self.max_frames)

    def compute(self, rows):
        return [self.decoder(logprobs) for logprobs in rows]

    def pack(self, texts):
        return [pb_utils.Tensor("TRANSCRIPT", bytes_column(texts))]
