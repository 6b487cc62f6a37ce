"""Streaming recognition: many live streams of audio chunks, a partial transcript after every chunk and the final
transcript at the end, with each stream's state kept here (Triton's sequence batcher keeps none for a python
model).

Partial: after each chunk, the model runs over the last ``buffer_seconds`` of the stream (left context for the
newest audio, and the whole stream while it is shorter), and the buffer's words are merged into the stream's
transcript so far as long recordings merge windows (``longform``): the overlap with what earlier buffers heard
is spliced where both agree. A stream no longer than the buffer is thus transcribed exactly as offline after
every chunk.

Final: at END the model runs over the whole stream, as ``asr`` runs over an utterance (or in ``asr_long``'s
windows when the stream is longer than ``max_audio_seconds``), so the final transcript is the offline one for
any model. QuartzNet is not causal: a buffered pass alone (NeMo's buffered inference) agrees with the offline
transcript only as far as its right context reaches, and the shipped default model emits letters up to 2.5 s
before their audio (measured), beyond any affordable lookahead. Keeping the stream's audio (``max_stream_seconds``,
38 MB at the default 600 s) buys the exact final transcript for one pass over the stream at END.

A stream that sends nothing for ``idle_seconds`` is freed (``expire``), as Triton frees its sequence slot.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from triton_speech.runtime.asr.longform import TimedWords, merge
from triton_speech.runtime.asr.pipeline import ASRPipeline
from triton_speech.runtime.asr.words import Transcript
from triton_speech.runtime.errors import InputError


@dataclass(frozen=True)
class StreamSettings:
    buffer_seconds: float
    max_stream_seconds: float
    idle_seconds: float
    max_audio_seconds: float  # the final transcript is one pass up to this length, windows beyond
    window_seconds: float
    overlap_seconds: float


@dataclass(frozen=True)
class Chunk:
    """One request of a stream: its sequence (correlation) id, flags and audio."""

    sequence: int
    start: bool
    end: bool
    audio: np.ndarray


class StreamAudio:
    """A stream's samples so far, in a buffer that grows by doubling."""

    def __init__(self):
        self._samples = np.zeros(16000, dtype=np.float32)
        self.length = 0

    def append(self, chunk: np.ndarray) -> None:
        if self.length + chunk.shape[0] > self._samples.shape[0]:
            grown = np.zeros(max(2 * self._samples.shape[0], self.length + chunk.shape[0]), dtype=np.float32)
            grown[: self.length] = self._samples[: self.length]
            self._samples = grown
        self._samples[self.length : self.length + chunk.shape[0]] = chunk
        self.length += chunk.shape[0]

    def tail(self, samples: int) -> tuple[int, np.ndarray]:
        """(start, the last ``samples`` samples, or all there are)."""
        start = max(0, self.length - samples)
        return start, self._samples[start : self.length].copy()

    def all(self) -> np.ndarray:
        return self._samples[: self.length].copy()


@dataclass
class Stream:
    last_seen: float
    audio: StreamAudio = field(default_factory=StreamAudio)
    heard: TimedWords = field(default_factory=TimedWords)  # the transcript so far
    heard_until_s: float = 0.0  # the end of the audio ``heard`` covers


class StreamingRecognizer:
    """Streams by sequence id; ``step`` answers one batch of chunks (at most one per stream, in order)."""

    def __init__(self, pipeline: ASRPipeline, settings: StreamSettings, clock: Callable[[], float] = time.monotonic):
        self.pipeline = pipeline
        self.settings = settings
        self.clock = clock
        self.streams: dict[int, Stream] = {}
        self._lock = threading.Lock()
        rate = pipeline.sample_rate
        self._buffer = int(settings.buffer_seconds * rate)
        self._max_stream = int(settings.max_stream_seconds * rate)
        self._one_pass = int(settings.max_audio_seconds * rate)
        self._min_samples = pipeline.frontend.config.hop_length  # one feature frame

    def expire(self) -> list[int]:
        """Free the streams idle for longer than ``idle_seconds``; returns their ids."""
        now = self.clock()
        with self._lock:
            idle = [key for key, stream in self.streams.items() if now - stream.last_seen > self.settings.idle_seconds]
            for key in idle:
                del self.streams[key]
        return idle

    def sweep_in_background(self, period_s: float = 1.0) -> threading.Event:
        """Expire idle streams every ``period_s`` even when no request comes; set the returned event to stop."""
        stop = threading.Event()

        def run():
            while not stop.wait(period_s):
                self.expire()

        threading.Thread(target=run, name="expire-idle-streams", daemon=True).start()
        return stop

    def step(self, chunks: Sequence[Chunk]) -> list[Transcript | InputError]:
        """Each chunk's answer: the stream's partial transcript, its final one for an END chunk, or the
        InputError that chunk (alone) caused. A failed END chunk still ends its stream."""
        self.expire()
        answers: list = [None] * len(chunks)
        partial, final = [], []
        with self._lock:
            for index, chunk in enumerate(chunks):
                try:
                    stream = self._receive(chunk)
                except InputError as error:
                    answers[index] = error
                    continue
                (final if chunk.end else partial).append((index, stream))
        self._partials(partial, answers)
        self._finals(final, answers)
        return answers

    def _receive(self, chunk: Chunk) -> Stream:
        """The chunk's stream with the chunk's audio added (a new stream on START; freed on END)."""
        name = f"sequence {chunk.sequence}"
        if chunk.start:
            self.streams[chunk.sequence] = Stream(self.clock())
        stream = self.streams.pop(chunk.sequence, None) if chunk.end else self.streams.get(chunk.sequence)
        if stream is None:
            raise InputError(f"{name} is not an open stream of this model (never started, already ended, or idle "
                             f"for more than {self.settings.idle_seconds:g} s and freed): start one with START")
        audio = np.asarray(chunk.audio, dtype=np.float32)
        if audio.ndim != 2 or audio.shape[0] != 1:
            raise InputError(f"AUDIO of {name} must be one row [1, samples] per request, got {list(audio.shape)}")
        audio = audio[0]
        if not np.isfinite(audio).all():
            raise InputError(f"AUDIO of {name} contains {int(np.count_nonzero(~np.isfinite(audio)))} NaN or Inf "
                             "samples")
        if stream.audio.length + audio.shape[0] > self._max_stream:
            seconds = (stream.audio.length + audio.shape[0]) / self.pipeline.sample_rate
            raise InputError(f"AUDIO of {name}: the stream would be {seconds:.2f} s long; the limit is "
                             f"{self.settings.max_stream_seconds:g} s (max_stream_seconds): end it and start another")
        stream.audio.append(audio)
        stream.last_seen = self.clock()
        return stream

    def _partials(self, partial: list[tuple[int, Stream]], answers: list) -> None:
        rate = self.pipeline.sample_rate
        buffers = [(index, stream, *stream.audio.tail(self._buffer)) for index, stream in partial]
        heard = [b for b in buffers if b[3].shape[0] >= self._min_samples]
        for index, stream, _, _ in buffers:
            answers[index] = Transcript(stream.heard.text, stream.heard.raw, list(stream.heard.words))
        results = self._each([audio for _, _, _, audio in heard])
        for (index, stream, start, audio), result in zip(heard, results):
            if isinstance(result, Exception):
                answers[index] = result
                continue
            start_s, end_s = start / rate, (start + audio.shape[0]) / rate
            words = TimedWords.of(result.words, offset_s=start_s)
            # A buffer from the stream's start heard all of it: the offline transcript of the stream so far.
            stream.heard = words if start == 0 else merge([(stream.heard, 0.0, stream.heard_until_s),
                                                           (words, start_s, end_s)])
            stream.heard_until_s = end_s
            answers[index] = Transcript(stream.heard.text, stream.heard.raw, list(stream.heard.words))

    def _finals(self, final: list[tuple[int, Stream]], answers: list) -> None:
        whole = [(index, stream.audio.all()) for index, stream in final]
        for index, audio in whole:
            if audio.shape[0] < self._min_samples:
                answers[index] = Transcript("", "", [])
            elif audio.shape[0] > self._one_pass:
                try:
                    answers[index] = self.pipeline.recognize_long(audio, self.settings.window_seconds,
                                                                  self.settings.overlap_seconds)
                except Exception as error:  # noqa: BLE001 (handed to that chunk's response)
                    answers[index] = error
        one_pass = [(index, audio) for index, audio in whole if answers[index] is None]
        for (index, _), result in zip(one_pass, self._each([audio for _, audio in one_pass])):
            answers[index] = result

    def _each(self, audio: list[np.ndarray]) -> list[Transcript | Exception]:
        """Recognized together; should the batch fail, each alone, so that only the one at fault fails."""
        if not audio:
            return []
        try:
            return self.pipeline.recognize(audio, words=True)
        except Exception:
            results = []
            for one in audio:
                try:
                    results.append(self.pipeline.recognize([one], words=True)[0])
                except Exception as error:  # noqa: BLE001 (handed to that chunk's response)
                    results.append(error)
            return results
