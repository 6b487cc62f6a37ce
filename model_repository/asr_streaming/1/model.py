"""A stream's chunks in order (Triton's sequence batcher: START, END, READY, CORRID), AUDIO [1, N] each ->
TRANSCRIPT [1, 1]: the partial transcript after every chunk, the final one (as offline) after END; when asked
WORDS, WORD_START_S, WORD_END_S, WORD_CONFIDENCE [1, W] (seconds from the stream's start). The streams' audio and
transcripts live here; idle streams are freed."""

import triton_python_backend_utils as pb_utils

from triton_speech.runtime.asr.pipeline import ASRPipeline
from triton_speech.runtime.asr.streaming import Chunk, StreamingRecognizer, StreamSettings
from triton_speech.runtime.asr.words import pack_words, requested_words
from triton_speech.runtime.backend import ModelArgs, bytes_column, error_response, input_array
from triton_speech.runtime.model_settings import AsrStreamingSettings


class TritonPythonModel:
    def initialize(self, args):
        model = ModelArgs(args)
        settings = model.settings(AsrStreamingSettings)
        # The version directory holds asr's export (frontend.onnx, model.onnx, labels.json, export.json) and the
        # decoder's word list or LM
        pipeline = ASRPipeline.from_export(model.directory, intra_op_threads=settings.intra_op_threads,
                                           device=model.placement(), **settings.decoder_arguments(model.directory))
        self.streams = StreamingRecognizer(pipeline, StreamSettings(**{
            name: getattr(settings, name) for name in StreamSettings.__dataclass_fields__}))
        # no model_warmup for a sequence model: warm before Triton reports it ready
        pipeline.warm_up()
        self.streams.warm_up()
        self.stop_sweeping = self.streams.sweep_in_background()

    def execute(self, requests):
        # Not backend.serve: chunks change their streams, so a batch is never computed twice; each chunk's problem
        # is answered on its own by the recognizer.
        chunks = [self.chunk(request) for request in requests]
        answers = self.streams.step(chunks)
        return [error_response(pb_utils, answer) if isinstance(answer, Exception)
                else pb_utils.InferenceResponse(output_tensors=self.pack(answer, requested_words(request)))
                for request, answer in zip(requests, answers)]

    def chunk(self, request):
        def flag(name):
            value = input_array(pb_utils, request, name)
            return value is not None and bool(value.reshape(-1)[0])

        corrid = input_array(pb_utils, request, "CORRID")
        sequence = int(corrid.reshape(-1)[0]) if corrid is not None else int(request.correlation_id())
        return Chunk(sequence, flag("START"), flag("END"), input_array(pb_utils, request, "AUDIO"),
                     requested_words(request))

    def pack(self, transcript, words):
        tensors = [pb_utils.Tensor("TRANSCRIPT", bytes_column([transcript.raw]))]
        if words:
            tensors += [pb_utils.Tensor(name, array) for name, array in pack_words([transcript.words]).items()]
        return tensors

    def finalize(self):
        self.stop_sweeping.set()
