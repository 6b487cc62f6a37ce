"""Streaming synthesis: each request's audio goes out in chunks as soon as its frames are final.

The sentences of every request decode together in one ``DecoderBatch``, and a new request joins it between two
decoder steps (it does not wait for the others to finish). A request's mel is its sentences' mels joined in order,
as the ``tts`` ensemble joins them; sentence ``j`` draws its prenet dropout from ``seed + j``, as there. A frame is
final once the postnet's context after it has decoded (``postnet_context_frames``) or its sentence has ended. A
chunk of frames ``[start, end)`` is vocoded on the window ``[start - C, end + C)`` of the joined mel (``C``: the
vocoder's ``context_frames``) and cropped to its own samples, so its audio is what vocoding the whole mel gives
there: exactly (up to float rounding) with WaveGlow, whose context is its whole reach; within a measured bound with
Griffin-Lim, whose iterations reach further than its context (see ``GriffinLimStream``).

A chunk never crosses a sentence end. One goes out when a sentence's end, or ``block_frames`` frames, have ``C``
final frames after them, and when the request ends; the last chunk is marked final and says whether the step limit
was reached (a sentence hit ``max_decoder_steps``, or the request's audio was cut at ``max_frames``).
"""

from __future__ import annotations

import queue
import threading
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from triton_speech.runtime.tts.stft import HOP
from triton_speech.runtime.tts.tacotron2 import DecoderBatch, Tacotron2Engine


@dataclass
class Chunk:
    audio: np.ndarray  # float32 samples
    offset: int  # samples of the request's audio before this chunk
    final: bool  # the request's last chunk
    step_limit_reached: bool  # (final chunk) a sentence hit max_decoder_steps or the audio was cut at max_frames


def plan_chunks(emitted: int, ready: int, ends: Sequence[int], total: int | None, context: int,
                block: int) -> list[tuple[int, int]]:
    """The chunks ``[start, end)`` (frames of a request's joined mel) to vocode now.

    ``emitted``: frames already sent; ``ready``: frames whose final values are known (a prefix); ``ends``: where the
    sentences that ended so far end (ascending, within ``ready``); ``total``: the mel's length, once known;
    ``context``: final frames a chunk needs after it; ``block``: the least frames of a chunk within a sentence.
    """
    chunks = []
    while total is None or emitted < total:
        boundary = next((end for end in ends if end > emitted), None)
        if total is not None and ready >= total:
            end = boundary if boundary is not None and boundary < total else total
        else:
            limit = ready - context
            if boundary is not None and boundary <= limit:
                end = boundary
            elif limit - emitted >= block:
                end = limit
            else:
                break
        chunks.append((emitted, end))
        emitted = end
    return chunks


class _Sentence:
    """One sentence's decoder frames as they come, and its final (postnet) frames computed so far."""

    def __init__(self, n_mel: int):
        self.raw: list[np.ndarray] = []
        self.final = np.zeros((n_mel, 0), dtype=np.float32)
        self.done = False

    def ready(self, context: int) -> int:
        return len(self.raw) if self.done else max(0, len(self.raw) - context)

    def finalize(self, upto: int, engine: Tacotron2Engine, context: int) -> None:
        """Postnet frames up to ``upto`` (at most ``ready``), from a window with ``context`` frames either side."""
        first = self.final.shape[1]
        if upto <= first:
            return
        low = max(0, first - context)
        high = len(self.raw) if self.done else upto + context
        (window,) = engine.postnet_mels([np.stack(self.raw[low:high], axis=1)])
        self.final = np.concatenate([self.final, window[:, first - low : upto - low]], axis=1)


Vocoder = Callable[[np.ndarray, int], np.ndarray]  # (mel window, its first frame) -> window frames * HOP samples


@dataclass(eq=False)
class SpeechStream:
    """One request being synthesized: its sentences' frames and what of its audio went out."""

    sentences: list[_Sentence]
    vocoder: Vocoder  # with a context_frames attribute (GriffinLimStream, WaveGlowStream)
    max_frames: int
    emitted: int = 0  # frames whose audio went out
    limited: bool = False  # a sentence hit max_decoder_steps
    finished: bool = False
    owner: object = None  # whoever submitted it (the scheduler's job)
    items: set[int] = field(default_factory=set)  # its sentences still decoding

    def progress(self, postnet_context: int) -> tuple[int, list[int], int | None, bool]:
        """(ready frames, ends of the sentences ended so far, total frames or None, cut at max_frames)."""
        ready, ends = 0, []
        for sentence in self.sentences:
            ready += sentence.ready(postnet_context)
            if not sentence.done:
                break
            ends.append(ready)
        if all(sentence.done for sentence in self.sentences):
            return min(ready, self.max_frames), ends, min(ready, self.max_frames), ready > self.max_frames
        if ready >= self.max_frames:  # the sentence still decoding makes the mel longer than the limit
            return self.max_frames, ends, self.max_frames, True
        return ready, ends, None, False

    def frames(self, start: int, end: int, engine: Tacotron2Engine, postnet_context: int) -> np.ndarray:
        """Final frames ``[start, end)`` of the joined mel (at most the ready ones)."""
        parts, offset = [], 0
        for sentence in self.sentences:
            length = len(sentence.raw)
            if offset < end and start < offset + length:
                sentence.finalize(min(end - offset, length), engine, postnet_context)
                parts.append(sentence.final[:, max(0, start - offset) : end - offset])
            offset += length
            if offset >= end:
                break
        return np.concatenate(parts, axis=1)


class StreamingSynthesizer:
    """Requests' sentences decoding in one ``DecoderBatch``, each request's audio vocoded chunk by chunk."""

    def __init__(self, tacotron2: Tacotron2Engine, block_frames: int, max_frames: int):
        if block_frames < 1:
            raise ValueError(f"block_frames must be at least 1, got {block_frames}")
        self.tacotron2 = tacotron2
        self.batch = DecoderBatch(tacotron2)
        self.block_frames = block_frames
        self.max_frames = max_frames
        self.postnet_context = tacotron2.postnet_context_frames
        self.streams: list[SpeechStream] = []
        self._owners: dict[int, tuple[SpeechStream, int]] = {}  # decoder item -> (stream, sentence index)

    @property
    def running(self) -> int:
        return len(self.streams)

    def add(self, sentences: Sequence[np.ndarray], seed: int, vocoder: Vocoder, emitted: int = 0,
            owner: object = None) -> SpeechStream:
        """Start a request (sentence symbol ids, seed, its vocoder stream); ``emitted`` frames are not sent again."""
        stream = SpeechStream([_Sentence(self.tacotron2.n_mel_channels) for _ in sentences], vocoder,
                              self.max_frames, emitted=emitted, owner=owner)
        items = self.batch.add(sentences, [seed + j for j in range(len(sentences))])
        for index, item in enumerate(items):
            self._owners[item] = (stream, index)
        stream.items.update(items)
        self.streams.append(stream)
        return stream

    def cancel(self, stream: SpeechStream) -> None:
        self.batch.remove(stream.items)
        for item in stream.items:
            del self._owners[item]
        stream.items.clear()
        stream.finished = True
        self.streams.remove(stream)

    def step(self) -> list[tuple[SpeechStream, Chunk]]:
        """One decoder step for every running sentence, then the chunks it made ready, in order per stream."""
        step = self.batch.step()
        touched: list[SpeechStream] = []
        for row, item in enumerate(step.items):
            stream, index = self._owners[item]
            sentence = stream.sentences[index]
            sentence.raw.append(step.frames[row])
            if step.stopped[row] or step.limited[row]:
                sentence.done = True
                stream.limited |= bool(step.limited[row])
                stream.items.discard(item)
                del self._owners[item]
            if stream not in touched:
                touched.append(stream)
        return [chunk for stream in touched for chunk in self._emit(stream)]

    def _emit(self, stream: SpeechStream) -> list[tuple[SpeechStream, Chunk]]:
        ready, ends, total, cut = stream.progress(self.postnet_context)
        context = stream.vocoder.context_frames
        chunks = []
        for start, end in plan_chunks(stream.emitted, ready, ends, total, context, self.block_frames):
            low, high = max(0, start - context), min(ready, end + context)
            window = stream.frames(low, high, self.tacotron2, self.postnet_context)
            audio = stream.vocoder(window, low)[(start - low) * HOP : (end - low) * HOP]
            final = end == total
            chunks.append((stream, Chunk(audio, start * HOP, final, final and (stream.limited or cut))))
            stream.emitted = end
        if total is not None and stream.emitted == total:
            self.cancel(stream)  # done (a cut request may still have sentences decoding)
        return chunks


@dataclass(eq=False)
class StreamJob:
    """A request for the scheduler: what to synthesize, how to make its vocoder, and where its chunks go."""

    sentences: list[np.ndarray]
    seed: int
    vocoder: Callable[[], Vocoder]
    send: Callable[[Chunk], None]
    fail: Callable[[Exception], None]
    cancelled: Callable[[], bool] = lambda: False
    sent: int = 0  # samples sent


class StreamScheduler(threading.Thread):
    """Runs ``StreamingSynthesizer`` steps on its own thread. Submitted jobs join the running batch at the next
    step; each chunk goes to its job's ``send`` on this thread, in order.

    Should a step fail, each of its requests is synthesized again alone (from the start, sending only what it had
    not sent yet: the same audio, as decoding is seeded), so that only the request at fault gets the error
    (``fail``); a request that fails alone fails.
    """

    def __init__(self, synthesizer: Callable[[], StreamingSynthesizer]):
        super().__init__(name="tts-streaming", daemon=True)
        self.synthesizer = synthesizer
        self.jobs: queue.Queue[StreamJob | None] = queue.Queue()
        self.groups: list[StreamingSynthesizer] = []  # the first admits new jobs; the others hold one job alone
        self._stopping = threading.Event()

    def submit(self, job: StreamJob) -> None:
        self.jobs.put(job)

    def stop(self) -> None:
        self._stopping.set()
        self.jobs.put(None)
        self.join(timeout=10)

    def run(self) -> None:
        while not self._stopping.is_set():
            self._admit(block=not any(group.running for group in self.groups))
            for group in list(self.groups):
                if group.running:
                    self._step(group)
            self.groups = [group for index, group in enumerate(self.groups) if index == 0 or group.running]

    def _admit(self, block: bool) -> None:
        while True:
            try:
                job = self.jobs.get(block=block)
            except queue.Empty:
                return
            if job is None:
                return
            block = False
            if not self.groups:
                self.groups.append(self.synthesizer())
            self._start(self.groups[0], job)

    def _start(self, group: StreamingSynthesizer, job: StreamJob, emitted: int = 0) -> None:
        try:
            group.add(job.sentences, job.seed, job.vocoder(), emitted=emitted, owner=job)
        except Exception as error:
            _deliver(job.fail, error)

    def _step(self, group: StreamingSynthesizer) -> None:
        for stream in list(group.streams):
            if stream.owner.cancelled():
                group.cancel(stream)
        if not group.running:
            return
        try:
            chunks = group.step()
        except Exception as error:
            self._isolate(group, error)
            return
        for stream, chunk in chunks:
            stream.owner.sent += chunk.audio.size
            _deliver(stream.owner.send, chunk)

    def _isolate(self, group: StreamingSynthesizer, error: Exception) -> None:
        streams = list(group.streams)
        if group is self.groups[0]:
            self.groups[0] = self.synthesizer()
        else:
            self.groups.remove(group)
        if len(streams) == 1:
            _deliver(streams[0].owner.fail, error)
            return
        for stream in streams:  # chunks the failed step made for the others were never sent: from what was
            alone = self.synthesizer()
            self.groups.append(alone)
            self._start(alone, stream.owner, stream.owner.sent // HOP)


def _deliver(callback: Callable, value) -> None:
    """Hand a chunk or an error to a job; a callback that fails (the client went away) must not stop the others."""
    try:
        callback(value)
    except Exception:
        traceback.print_exc()
