"""AUDIO [B, N] (+ AUDIO_LENGTH) of up to max_long_audio_seconds -> TRANSCRIPT [B, 1] (+ RAW_TRANSCRIPT with a
punctuator), WORDS, WORD_START_S, WORD_END_S, WORD_CONFIDENCE [B, W]: each recording in overlapping windows, every
window a request to the asr ensemble through BLS (windows_in_flight at a time, which asr's dynamic batcher batches),
merged by word time."""

import asyncio

import triton_python_backend_utils as pb_utils

from triton_speech.runtime.asr.longform import plan_windows, recognize_in_windows
from triton_speech.runtime.asr.words import pack_words, transcript_from
from triton_speech.runtime.backend import ModelArgs, bytes_column, input_array, serve_async
from triton_speech.runtime.inputs import split_rows
from triton_speech.runtime.model_settings import AsrLongSettings


class TritonPythonModel:
    def initialize(self, args):
        settings = ModelArgs(args).settings(AsrLongSettings)
        self.sample_rate, self.min_samples = settings.sample_rate, settings.min_samples
        self.max_samples = int(settings.max_long_audio_seconds * self.sample_rate)
        self.window = int(settings.window_seconds * self.sample_rate)
        self.overlap = int(settings.overlap_seconds * self.sample_rate)
        self.asr, self.asr_outputs = settings.asr_model, list(settings.asr_outputs)
        self.in_flight = settings.windows_in_flight
        self.gate = None  # made in the event loop the requests run in

    async def execute(self, requests):
        return await serve_async(pb_utils, requests, self.parse, self.compute, self.pack)

    def parse(self, request):
        return split_rows(input_array(pb_utils, request, "AUDIO"), input_array(pb_utils, request, "AUDIO_LENGTH"),
                          self.min_samples, self.max_samples, self.sample_rate, "max_long_audio_seconds")

    async def compute(self, rows):
        # The recordings of a batch together: their windows share the windows_in_flight gate, rather than one
        # recording's last windows leaving asr idle while the next waits its turn
        return list(await asyncio.gather(*(
            recognize_in_windows(audio, plan_windows(audio.shape[0], self.window, self.overlap), self.sample_rate,
                                 self.recognize_window) for audio in rows)))

    async def recognize_window(self, audio):
        self.gate = self.gate or asyncio.Semaphore(self.in_flight)
        request = pb_utils.InferenceRequest(model_name=self.asr, requested_output_names=self.asr_outputs,
                                            inputs=[pb_utils.Tensor("AUDIO", audio.reshape(1, -1))])
        async with self.gate:
            response = await request.async_exec()
        if response.has_error():
            raise RuntimeError(f"{self.asr}: {response.error().message()}")
        return transcript_from({name: pb_utils.get_output_tensor_by_name(response, name).as_numpy()
                                for name in self.asr_outputs})

    def pack(self, transcripts):
        tensors = [pb_utils.Tensor("TRANSCRIPT", bytes_column([t.text for t in transcripts]))]
        if "RAW_TRANSCRIPT" in self.asr_outputs:
            tensors.append(pb_utils.Tensor("RAW_TRANSCRIPT", bytes_column([t.raw for t in transcripts])))
        return tensors + [pb_utils.Tensor(name, array) for name, array in pack_words([t.words for t in transcripts])
                          .items()]
