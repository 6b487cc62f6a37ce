"""Streaming recognition: many live streams of audio chunks, a partial transcript after every chunk and the final
transcript at the end, with each stream's state kept here (Triton's sequence batcher keeps none for a python
model).

Partial: each chunk's audio goes through the front-end once (``StreamingMelFrontend``: the features the whole
stream so far has, normalized over all of it), and the acoustic model runs over the last ``buffer_seconds`` of
features (left context for the newest frames), the streams of a batch in one run. Its log-probs are kept once
``lookahead_seconds`` of audio follows them (a committed frame is never computed or decoded again), and the CTC
decoder advances over the committed frames once, keeping its state (beams) per stream; the frames after them are
decoded from that state for this partial only. A partial costs the new audio's frames, not the stream's: the
front-end's, a window of the model, and the decoder's new frames. For a model whose outputs depend on their own
features only (the tone model of the tests), a partial is exactly the offline transcript of the stream so far;
QuartzNet's convolutions reach seconds to either side, so a partial hears each frame with at most the buffer's
audio before it and the lookahead after it when it is committed.

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

from triton_speech.runtime.asr.ctc import FrameWord, Word
from triton_speech.runtime.asr.features import StreamingMelFrontend
from triton_speech.runtime.asr.longform import TimedWords, merge
from triton_speech.runtime.asr.pipeline import ASRPipeline
from triton_speech.runtime.asr.words import Transcript
from triton_speech.runtime.errors import InputError

PARTIALS = ("incremental", "buffered")


@dataclass(frozen=True)
class StreamSettings:
    buffer_seconds: float  # the model's window for a partial: this much audio up to the stream's end
    max_stream_seconds: float
    idle_seconds: float
    max_audio_seconds: float  # the final transcript is one pass up to this length, windows beyond
    window_seconds: float
    overlap_seconds: float
    lookahead_seconds: float = 0.0  # a frame's log-probs are kept once this much audio follows it
    partial_beam_size: int = 0  # the partials' beam search width (0: the pipeline decoder's)
    # "incremental"; or "buffered": each partial runs the front-end, the model and the decoder over the whole buffer
    # again and merges its words into the transcript so far (about buffer / chunk times the work; the benchmark's
    # baseline)
    partials: str = "incremental"

    def __post_init__(self):
        if self.partials not in PARTIALS:
            raise ValueError(f"partials must be one of {', '.join(PARTIALS)}, got {self.partials!r}")


@dataclass(frozen=True)
class Chunk:
    """One request of a stream: its sequence (correlation) id, flags and audio; ``words``: its answer carries the
    words' times and confidences."""

    sequence: int
    start: bool
    end: bool
    audio: np.ndarray
    words: bool = True


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


class LogProbs:
    """A stream's committed log-prob frames, in a buffer that grows by doubling."""

    def __init__(self, classes: int):
        self._frames = np.zeros((256, classes), dtype=np.float32)
        self.length = 0

    def append(self, frames: np.ndarray) -> None:
        if self.length + frames.shape[0] > self._frames.shape[0]:
            grown = np.zeros((max(2 * self._frames.shape[0], self.length + frames.shape[0]), self._frames.shape[1]),
                             dtype=np.float32)
            grown[: self.length] = self._frames[: self.length]
            self._frames = grown
        self._frames[self.length : self.length + frames.shape[0]] = frames
        self.length += frames.shape[0]

    def rows(self, start: int, end: int, tentative: np.ndarray) -> np.ndarray:
        """Frames ``[start, end)`` of the committed ones followed by ``tentative``."""
        if end <= self.length:
            return self._frames[start:end]
        return np.concatenate([self._frames[start : self.length], tentative[: end - self.length]])


@dataclass
class Stream:
    last_seen: float
    features: StreamingMelFrontend
    logprobs: LogProbs
    decoding: object  # the decoder's state after the committed frames
    audio: StreamAudio = field(default_factory=StreamAudio)
    committed: int = 0  # log-prob frames kept and decoded
    answer: Transcript = field(default_factory=lambda: Transcript("", "", []))
    words: dict = field(default_factory=dict)  # (text, start, end) -> Word, for words within the committed frames
    heard: TimedWords = field(default_factory=TimedWords)  # buffered partials: the transcript so far
    heard_until_s: float = 0.0  # buffered partials: the end of the audio ``heard`` covers


class StreamingRecognizer:
    """Streams by sequence id; ``step`` answers one batch of chunks (at most one per stream, in order)."""

    def __init__(self, pipeline: ASRPipeline, settings: StreamSettings, clock: Callable[[], float] = time.monotonic):
        if pipeline.frontend.mel is None:
            raise ValueError("streaming needs the export's front-end in numpy (frontend.npz): load the pipeline with "
                             "ASRPipeline.from_export")
        self.pipeline = pipeline
        self.settings = settings
        self.clock = clock
        self.streams: dict[int, Stream] = {}
        self._lock = threading.Lock()
        rate, hop = pipeline.sample_rate, pipeline.frontend.config.hop_length
        self._max_stream = int(settings.max_stream_seconds * rate)
        self._one_pass = int(settings.max_audio_seconds * rate)
        self._min_samples = hop  # one feature frame
        # Feature frames per log-prob frame: a window starts on a multiple of it, so its outputs are the stream's
        self._subsampling = max(1, round(pipeline.frame_seconds * rate / hop))
        self._buffer = self._aligned(int(settings.buffer_seconds * rate / hop))
        self._lookahead = int(np.ceil(settings.lookahead_seconds / pipeline.frame_seconds))
        self._classes = pipeline.decoder.num_classes
        self._decoder = (pipeline.decoder.with_beam_size(settings.partial_beam_size) if settings.partial_beam_size
                         else pipeline.decoder)

    def warm_up(self, seconds: float = 1.0, chunk_seconds: float = 0.25) -> None:
        """A stream of a voiced tone, chunk by chunk, then ended: the partials' path runs once before any stream
        (the final's is ``ASRPipeline.warm_up``)."""
        rate = self.pipeline.sample_rate
        t = np.arange(int(seconds * rate)) / rate
        audio = (0.2 * np.sin(2 * np.pi * 220.0 * t)).astype(np.float32)
        size = int(chunk_seconds * rate)
        starts = range(0, audio.shape[0], size)
        for k, start in enumerate(starts):
            self.step([Chunk(0, k == 0, k == len(starts) - 1, audio[None, start : start + size])])

    def _aligned(self, frame: int) -> int:
        return frame - frame % self._subsampling

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
                if chunk.end:
                    final.append((index, stream))
                else:
                    partial.append((index, stream, chunk.words))
        if self.settings.partials == "buffered":
            self._buffered_partials(partial, answers)
        else:
            self._partials(partial, answers)
        self._finals(final, answers)
        return answers

    def _receive(self, chunk: Chunk) -> Stream:
        """The chunk's stream with the chunk's audio added (a new stream on START; freed on END)."""
        name = f"sequence {chunk.sequence}"
        if chunk.start:
            self.streams[chunk.sequence] = Stream(self.clock(), StreamingMelFrontend(self.pipeline.frontend.mel),
                                                  LogProbs(self._classes), self._decoder.begin())
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
        if not chunk.end and self.settings.partials == "incremental":  # the final transcript is computed from the audio
            stream.features.append(audio)
        stream.last_seen = self.clock()
        return stream

    def _partials(self, partial: list[tuple[int, Stream, bool]], answers: list) -> None:
        """Each stream's new frames through the model (one batch of windows) and the decoder."""
        windows = []
        for index, stream, words in partial:
            frames = stream.features.frames
            if frames == 0:  # less than a frame of audio so far
                answers[index] = self._answer(stream, words)
                continue
            # The last buffer of features, and at least half a buffer before the first frame not yet committed
            start = max(0, min(self._aligned(frames - self._buffer),
                               self._subsampling * stream.committed - self._aligned(self._buffer // 2)))
            windows.append((index, stream, words, start, stream.features.window(start)))
        results = self._acoustic([window for *_, window in windows])
        for (index, stream, words, start, _), logprobs in zip(windows, results):
            if isinstance(logprobs, Exception):
                answers[index] = logprobs
                continue
            try:
                answers[index] = self._advance(stream, start // self._subsampling, logprobs, words)
            except Exception as error:  # noqa: BLE001 (handed to that chunk's response)
                answers[index] = error

    def _acoustic(self, windows: list[np.ndarray]) -> list[np.ndarray | Exception]:
        """The windows' log-probs in one run; should it fail, each alone, so that only the one at fault fails."""
        if not windows:
            return []
        try:
            return self.pipeline.acoustic(windows)
        except Exception:
            results = []
            for window in windows:
                try:
                    results.append(self.pipeline.acoustic([window])[0])
                except Exception as error:  # noqa: BLE001 (handed to that chunk's response)
                    results.append(error)
            return results

    def _advance(self, stream: Stream, first: int, logprobs: np.ndarray, words: bool) -> Transcript:
        """Commit the window's frames that have their lookahead (and complete features), decode them into the
        stream's state, and answer with the rest decoded from there."""
        decoder = self._decoder
        end = first + logprobs.shape[0]
        ready = stream.features.complete // self._subsampling  # frames whose features are all final
        commit = max(stream.committed, min(end - self._lookahead, ready))
        new = logprobs[stream.committed - first : commit - first]
        state = decoder.advance(stream.decoding, new)
        tentative = logprobs[commit - first :]
        found = decoder.state_words(decoder.advance(state, tentative))
        stream.logprobs.append(new)
        stream.decoding, stream.committed = state, commit
        # The model's next window starts at least half a buffer before the first uncommitted frame
        stream.features.release(max(0, self._subsampling * commit - self._buffer))
        stream.answer = Transcript(" ".join(w.text for w in found), " ".join(w.text for w in found),
                                   self._timed(stream, found, tentative) if words else None)
        return stream.answer

    def _timed(self, stream: Stream, found: list[FrameWord], tentative: np.ndarray) -> list[Word]:
        """The words with times and confidences; those within the committed frames are computed once."""
        timed = []
        for word in found:
            key = (word.text, word.start, word.end)
            known = stream.words.get(key)
            if known is None:
                known = word.timed(stream.logprobs.rows(word.start, word.end, tentative), self.pipeline.frame_seconds)
                if word.end <= stream.committed:
                    stream.words[key] = known
            timed.append(known)
        return timed

    def _answer(self, stream: Stream, words: bool) -> Transcript:
        answer = stream.answer
        return answer if words or answer.words is None else Transcript(answer.text, answer.raw, None)

    def _buffered_partials(self, partial: list[tuple[int, Stream, bool]], answers: list) -> None:
        """The model over the last ``buffer_seconds`` of each stream, its words merged into the transcript so far
        as long recordings merge windows (``longform``): a stream no longer than the buffer is transcribed as
        offline after every chunk."""
        rate, samples = self.pipeline.sample_rate, int(self.settings.buffer_seconds * self.pipeline.sample_rate)
        buffers = [(index, stream, *stream.audio.tail(samples)) for index, stream, _ in partial]
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
