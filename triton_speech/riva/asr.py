"""RivaSpeechRecognition on the ASR models: ``Recognize`` (whole audio -> ``asr``, or ``asr_long`` beyond asr's
limit), ``StreamingRecognize`` (config, then audio -> ``asr_streaming``, one Triton sequence per call) and
``GetRivaSpeechRecognitionConfig``.

One alternative per result (``max_alternatives`` asks for at most; there is one), one result per call for
Recognize and one final result per stream (at its end: the served models have no endpointing). Transcripts are
punctuated with ``enable_automatic_punctuation`` (the ``punctuator``), the raw CTC text otherwise; words (with
``enable_word_time_offsets``) are the raw transcript's, in milliseconds from the start of the audio.
"""

from __future__ import annotations

import asyncio
import secrets
from contextlib import aclosing
from dataclasses import dataclass

import numpy as np
import riva.client.proto.riva_asr_pb2 as rasr
from riva.client.proto.riva_asr_pb2_grpc import RivaSpeechRecognitionServicer

from triton_speech.defaults import ASR_SAMPLE_RATE
from triton_speech.riva import audio
from triton_speech.riva.calls import Service, check_language, invalid, request_id, rpc
from triton_speech.riva.triton import stream_request
from triton_speech.runtime.asr.ctc import Word
from triton_speech.runtime.asr.words import WORD_OUTPUTS, WORDS, transcript_from, unpack_words


@dataclass(frozen=True)
class Options:
    punctuate: bool
    words: bool


def word_infos(words: list[Word]) -> list[rasr.WordInfo]:
    """Riva's words: times in milliseconds from the start of the audio."""
    return [rasr.WordInfo(word=word.text, start_time=round(word.start_s * 1000), end_time=round(word.end_s * 1000),
                          confidence=word.confidence) for word in words]


class RecognitionServicer(Service, RivaSpeechRecognitionServicer):
    _limits: tuple[float, float | None] | None = None

    def options(self, config: rasr.RecognitionConfig, models: tuple[str, ...]) -> Options:
        check_language(config.language_code, self.settings.language_code, "recognizes")
        if config.model and config.model not in models:
            raise invalid(f"model {config.model!r} is not served here for this call: use {' or '.join(models)} (or "
                          "leave model empty)")
        if config.diarization_config.enable_speaker_diarization:
            raise invalid("speaker diarization is not supported by this server: leave it off")
        if config.enable_separate_recognition_per_channel:
            raise invalid("separate recognition per channel is not supported by this server: channels are mixed "
                          "to mono")
        if config.max_alternatives < 0:
            raise invalid(f"max_alternatives must not be negative, got {config.max_alternatives}")
        return Options(punctuate=config.enable_automatic_punctuation, words=config.enable_word_time_offsets)

    async def limits(self) -> tuple[float, float | None]:
        """(asr's longest audio, asr_long's when served) in seconds, from the served models' configs (kept once
        asr_long is ready: until then it may still be loading)."""
        if self._limits is None or self._limits[1] is None:
            short = float(await self.triton.parameter("feature_extractor", "max_audio_seconds"))
            long = None
            if await self.triton.ready(self.settings.long_model):
                long = float(await self.triton.parameter(self.settings.long_model, "max_long_audio_seconds"))
            self._limits = (short, long)
        return self._limits

    async def outputs(self, model: str, options: Options) -> list[str]:
        served = await self.triton.outputs(model)
        wanted = ("TRANSCRIPT",) if options.punctuate else ("RAW_TRANSCRIPT", "TRANSCRIPT")
        text = next(name for name in wanted if name in served)  # without a punctuator TRANSCRIPT is the raw text
        words = list(WORD_OUTPUTS) if options.words and WORDS in served else []
        return [text, *(name for name in words if name in served)]

    @rpc
    async def Recognize(self, request: rasr.RecognizeRequest, context) -> rasr.RecognizeResponse:
        names = (self.settings.asr_model, self.settings.long_model)
        options = self.options(request.config, names)
        config = request.config
        short, long = await self.limits()
        if config.model == self.settings.long_model and long is None:
            raise invalid(f"model {config.model!r} is not served here")
        longest = short if config.model == self.settings.asr_model or long is None else long
        samples = await asyncio.to_thread(audio.decode, request.audio, config.encoding, config.sample_rate_hertz,
                                          config.audio_channel_count, ASR_SAMPLE_RATE, longest)
        seconds = samples.shape[0] / ASR_SAMPLE_RATE
        model = self.settings.asr_model if seconds <= short and config.model != self.settings.long_model \
            else self.settings.long_model
        outputs = await self.outputs(model, options)
        answer = await self.triton.infer(model, {"AUDIO": samples.reshape(1, -1)}, outputs)
        alternative = rasr.SpeechRecognitionAlternative(
            transcript=answer[outputs[0]].reshape(-1)[0].decode("utf-8"),
            words=word_infos(unpack_words(answer)[0] if WORDS in answer else []))
        result = rasr.SpeechRecognitionResult(alternatives=[alternative], channel_tag=1, audio_processed=seconds)
        return rasr.RecognizeResponse(results=[result], id=request_id(request))

    @rpc
    async def StreamingRecognize(self, request_iterator, context):
        try:
            first = await anext(request_iterator)
        except StopAsyncIteration:
            raise invalid("the stream is empty: send a StreamingRecognizeRequest with streaming_config first, "
                          "then the audio") from None
        if not first.HasField("streaming_config"):
            raise invalid("the first StreamingRecognizeRequest must hold streaming_config (the audio follows)")
        config = first.streaming_config.config
        options = self.options(config, (self.settings.streaming_model,))
        if options.punctuate and not await self.triton.ready(self.settings.punctuator_model):
            options = Options(punctuate=False, words=options.words)  # as Recognize answers without a punctuator
        decoder = audio.StreamDecoder(config.encoding, config.sample_rate_hertz, config.audio_channel_count,
                                      ASR_SAMPLE_RATE)
        stream = _Stream(self.settings.streaming_model, int(self.settings.stream_chunk_ms * ASR_SAMPLE_RATE / 1000),
                         options)
        interim = first.streaming_config.interim_results
        said = ""
        async with aclosing(self.triton.stream(stream.requests(request_iterator, decoder))) as answers:
            async for answer in answers:
                index = int(answer.get_response().id)
                heard_s = stream.ends[index] / ASR_SAMPLE_RATE  # the audio up to the end of this chunk
                if index != stream.last:
                    text = answer.as_numpy("TRANSCRIPT").reshape(-1)[0].decode("utf-8")
                    if interim and text and text != said:
                        said = text
                        yield _response(text, [], False, heard_s, request_id(first))
                    continue
                transcript = transcript_from({name: answer.as_numpy(name) for name in stream.final_outputs})
                text = transcript.raw
                if options.punctuate and text:
                    text = await self.triton.punctuate(self.settings.punctuator_model, text)
                yield _response(text, word_infos(transcript.words or []), True, heard_s, request_id(first))
                return

    @rpc
    async def GetRivaSpeechRecognitionConfig(self, request, context) -> rasr.RivaSpeechRecognitionConfigResponse:
        settings = self.settings
        kinds = {settings.asr_model: "offline", settings.long_model: "offline", settings.streaming_model: "online"}
        if request.model_name and request.model_name not in kinds:
            raise invalid(f"model {request.model_name!r} is not a speech recognition model of this server "
                          f"({', '.join(kinds)})")
        punctuation = "true" if await self.triton.ready(settings.punctuator_model) else "false"
        configs = []
        for model, kind in kinds.items():
            if request.model_name in ("", model) and await self.triton.ready(model):
                configs.append(rasr.RivaSpeechRecognitionConfigResponse.Config(model_name=model, parameters={
                    "type": kind, "streaming": str(kind == "online").lower(), "language_code": settings.language_code,
                    "sample_rate": str(ASR_SAMPLE_RATE), "automatic_punctuation": punctuation}))
        return rasr.RivaSpeechRecognitionConfigResponse(model_config=configs)


def _response(text: str, words: list, final: bool, seconds: float, echo) -> rasr.StreamingRecognizeResponse:
    alternative = rasr.SpeechRecognitionAlternative(transcript=text, words=words)
    result = rasr.StreamingRecognitionResult(alternatives=[alternative], is_final=final, channel_tag=1,
                                             audio_processed=seconds, stability=1.0 if final else 0.0)
    return rasr.StreamingRecognizeResponse(results=[result], id=echo)


class _Stream:
    """A call's audio as asr_streaming requests: one Triton sequence, chunks of ``chunk`` samples whatever the
    client's messages hold, END on the last (so at least one sample is always held back for it)."""

    def __init__(self, model: str, chunk: int, options: Options):
        self.model = model
        self.chunk = chunk
        self.sequence = secrets.randbits(63) or 1
        self.last: int | None = None  # the index of the END request, once sent
        self.final_outputs = ["TRANSCRIPT", *(WORD_OUTPUTS if options.words else ())]
        self.ends: list[int] = []  # each request's end, in samples from the stream's start

    def _request(self, samples: np.ndarray, end: bool) -> dict:
        index = len(self.ends)
        self.ends.append((self.ends[-1] if self.ends else 0) + samples.shape[0])
        if end:
            self.last = index
        return stream_request(self.model, {"AUDIO": samples.reshape(1, -1)},
                              self.final_outputs if end else ["TRANSCRIPT"], request_id=str(index),
                              sequence_id=self.sequence, sequence_start=index == 0, sequence_end=end)

    async def requests(self, messages, decoder: audio.StreamDecoder):
        held = np.zeros(0, dtype=np.float32)
        async for message in messages:
            if message.HasField("streaming_config"):
                raise invalid("streaming_config may come only in the first StreamingRecognizeRequest")
            held = np.concatenate([held, decoder.feed(message.audio_content)])
            while held.shape[0] > self.chunk:
                yield self._request(held[: self.chunk], end=False)
                held = held[self.chunk :]
        held = np.concatenate([held, decoder.finish()])
        if held.shape[0] == 0:
            raise invalid("the stream held no audio: send audio_content after the streaming_config")
        while held.shape[0] > self.chunk:  # the decoder's last samples
            yield self._request(held[: self.chunk], end=False)
            held = held[self.chunk :]
        yield self._request(held, end=True)
