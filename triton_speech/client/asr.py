"""Speech to text: utterances through the ``asr`` ensemble, recordings longer than its limit in overlapping windows
merged by word time, and live streams through ``asr_streaming``."""

from __future__ import annotations

import asyncio
import queue
import secrets
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from triton_speech.client.audio import load_audio
from triton_speech.client.connection import (
    InferenceError,
    StreamLost,
    TritonConnection,
    _inputs,
    classify,
    stream_lost,
)
from triton_speech.defaults import ASR_SAMPLE_RATE, LONG_OVERLAP_SECONDS, LONG_WINDOW_SECONDS
from triton_speech.runtime.asr.ctc import Word
from triton_speech.runtime.asr.longform import plan_windows, recognize_in_windows, window_settings
from triton_speech.runtime.asr.words import WORD_OUTPUTS, Transcript, transcript_from, unpack_words
from triton_speech.runtime.errors import InputError

SAMPLE_RATE = ASR_SAMPLE_RATE


@dataclass
class StreamResult:
    """What the server answered to one chunk of a stream: the transcript so far (partial), or at the end the
    final transcript; ``latency_s`` is the time from sending the chunk to this answer."""

    text: str
    final: bool
    chunk: int
    latency_s: float
    words: list[Word] | None = field(default=None, compare=False)
    sent_at: float = field(default=0.0, compare=False)  # time.perf_counter() when the chunk went out


class ASRClient:
    """``ASRClient().transcribe(audio)`` for 16 kHz mono float32 audio of any length, ``recognize(audio)`` for
    the transcript with each word's times and confidence, ``transcribe_files(paths)``, ``stream(chunks)``."""

    def __init__(self, url: str | None = None, protocol: str = "grpc", model: str = "asr",
                 streaming_model: str = "asr_streaming", window_seconds: float = LONG_WINDOW_SECONDS,
                 overlap_seconds: float = LONG_OVERLAP_SECONDS):
        self.connection = TritonConnection(url, protocol)
        self.model = model
        self.streaming_model = streaming_model
        # long recordings: windows of this many seconds (at most the server's limit), overlapping by this much
        self.window_seconds, self.overlap_seconds = window_seconds, overlap_seconds
        self._served: set[str] | None = None
        self._max_seconds: float | None = None

    def _served_outputs(self) -> set[str]:
        if self._served is None:
            metadata = self.connection.client.get_model_metadata(self.model, as_json=True) \
                if self.connection.protocol == "grpc" else self.connection.client.get_model_metadata(self.model)
            self._served = {output["name"] for output in metadata["outputs"]}
        return self._served

    def outputs(self, timestamps: bool = False) -> list[str]:
        """TRANSCRIPT, RAW_TRANSCRIPT when the served ensemble punctuates, and with ``timestamps`` the word
        outputs (a server without them answers without words)."""
        wanted = ("TRANSCRIPT", "RAW_TRANSCRIPT") + (WORD_OUTPUTS if timestamps else ())
        return [name for name in wanted if name in self._served_outputs()]

    @property
    def max_audio_seconds(self) -> float:
        """The longest audio ``asr`` takes in one request (its feature_extractor's limit); longer audio goes in
        windows."""
        if self._max_seconds is None:
            client = self.connection.client
            config = client.get_model_config("feature_extractor", **({"as_json": True} if
                                                                     self.connection.protocol == "grpc" else {}))
            config = config.get("config", config)
            self._max_seconds = float(config["parameters"]["max_audio_seconds"]["string_value"])
        return self._max_seconds

    def windows(self, num_samples: int) -> list[tuple[int, int]]:
        """The sample ranges a recording is sent in: one, or overlapping windows within the server's limit."""
        window, overlap = window_settings(self.max_audio_seconds, self.window_seconds, self.overlap_seconds)
        return plan_windows(num_samples, int(window * SAMPLE_RATE), int(overlap * SAMPLE_RATE))

    @staticmethod
    def tensors(audio: np.ndarray) -> dict[str, np.ndarray]:
        """The request of one utterance (16 kHz mono float32)."""
        return {"AUDIO": np.asarray(audio, dtype=np.float32).reshape(1, -1)}

    # The Transcript of one answer (TRANSCRIPT, RAW_TRANSCRIPT when served, the words when asked for)
    transcript = staticmethod(transcript_from)

    def recognize(self, audio: np.ndarray, timestamps: bool = True, concurrency: int = 8) -> Transcript:
        """The transcript (punctuated when the server punctuates), the raw CTC text and, with ``timestamps``,
        each word's start and end (seconds from the start of ``audio``) and confidence. Audio longer than the
        server's limit is sent in windows (``concurrency`` at a time) and merged."""
        audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        if len(self.windows(audio.shape[0])) == 1:
            return transcript_from(self.connection.infer(self.model, self.tensors(audio), self.outputs(timestamps)))
        result = asyncio.run(self._many([lambda: audio], concurrency, progress=False, timestamps=timestamps))[0]
        if isinstance(result, Exception):
            raise result
        return result

    def transcribe(self, audio: np.ndarray) -> str:
        return self.recognize(audio, timestamps=False).text

    def transcribe_file(self, path: str | Path) -> str:
        return self.transcribe(load_audio(path, SAMPLE_RATE))

    def transcribe_many(self, audios: Sequence[np.ndarray], concurrency: int = 8, progress: bool = False) -> list:
        """Transcript texts of many utterances sent concurrently; a failed item holds its exception."""
        results = asyncio.run(self._many([lambda a=a: a for a in audios], concurrency, progress))
        return [r.text if isinstance(r, Transcript) else r for r in results]

    def recognize_files(self, paths: Sequence[str | Path], concurrency: int = 8, progress: bool = True,
                        timestamps: bool = False) -> list:
        """Transcripts of many files (any length) sent concurrently; a failed item holds its exception."""
        loaders = [lambda p=p: load_audio(p, SAMPLE_RATE) for p in paths]
        return asyncio.run(self._many(loaders, concurrency, progress, timestamps))

    def transcribe_files(self, paths: Sequence[str | Path], concurrency: int = 8, progress: bool = True) -> list:
        return [r.text if isinstance(r, Transcript) else r for r in self.recognize_files(paths, concurrency, progress)]

    async def _many(self, loaders, concurrency: int, progress: bool, timestamps: bool = False) -> list:
        """Every item's requests (one, or a long recording's windows) through one pool of ``concurrency``."""
        outputs, window_outputs = self.outputs(timestamps), self.outputs(timestamps=True)
        self.max_audio_seconds  # noqa: B018 (read the limit before the event loop, with the synchronous client)
        client = await self.connection.open_async()
        gate = asyncio.Semaphore(concurrency)
        bar = tqdm(total=len(loaders), desc="transcribing", unit="request", disable=not progress)

        async def request(audio: np.ndarray, names: list[str]) -> Transcript:
            async with gate:
                try:
                    return transcript_from(await self.connection.infer_async(client, self.model,
                                                                              self.tensors(audio), names))
                finally:
                    bar.update(1)

        async def one(load) -> Transcript | Exception:
            try:
                audio = load()
                spans = self.windows(audio.shape[0])
                if len(spans) == 1:
                    return await request(audio, outputs)
                bar.total += len(spans) - 1
                bar.refresh()
                merged = await recognize_in_windows(audio, spans, SAMPLE_RATE,
                                                    lambda window: request(window, window_outputs))
                return merged if timestamps else Transcript(merged.text, merged.raw)
            except (InputError, InferenceError) as error:
                return error

        try:
            return await asyncio.gather(*(one(load) for load in loaders))
        finally:
            bar.close()
            await client.close()

    def stream(self, chunks: Iterable[np.ndarray], realtime: bool = False,
               timestamps: bool = False) -> Iterator[StreamResult]:
        """Send ``chunks`` (16 kHz float32 pieces of one stream) to ``asr_streaming`` over one gRPC stream and
        yield the answer to each: the partial transcript after every chunk, the final one after the last. A stream
        whose server goes away (or forgets it) raises StreamLost: never retried chunk by chunk, never a transcript
        cut short in silence.
        ``realtime``: send each chunk only once as much time has passed as there is audio before its end, as a
        microphone would."""
        import tritonclient.grpc as grpcclient

        if self.connection.protocol != "grpc":
            raise ValueError("streaming needs gRPC (Triton's sequence streams): use protocol='grpc'")
        answers: queue.Queue = queue.Queue()
        sent: dict[int, float] = {}
        client = self.connection.new_client()  # a stream of its own
        client.start_stream(callback=lambda result, error: answers.put((result, error, time.perf_counter())))
        names = ["TRANSCRIPT"] + (list(WORD_OUTPUTS) if timestamps else [])
        outputs = [grpcclient.InferRequestedOutput(name) for name in names]
        sequence_id = secrets.randbits(63) or 1
        failure: list[BaseException] = []
        last: list[int] = []  # the index of the last chunk, once it is being sent

        def send() -> None:
            started, audio_s, count = time.perf_counter(), 0.0, 0
            try:
                for index, (chunk, is_last) in enumerate(_with_last(chunks)):
                    chunk = np.asarray(chunk, dtype=np.float32).reshape(1, -1)
                    audio_s += chunk.shape[1] / SAMPLE_RATE
                    if realtime:
                        time.sleep(max(0.0, started + audio_s - time.perf_counter()))
                    if is_last:
                        last.append(index)
                    sent[index] = time.perf_counter()
                    client.async_stream_infer(self.streaming_model, _inputs(grpcclient, {"AUDIO": chunk}),
                                              outputs=outputs, request_id=str(index), sequence_id=sequence_id,
                                              sequence_start=index == 0, sequence_end=is_last)
                    count += 1
            except BaseException as error:  # noqa: BLE001 (raised on the reading side)
                failure.append(error)
            answers.put((None, count, None))

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        try:
            count, received = None, 0
            what = f"the stream to {self.streaming_model} at {self.connection.url}"
            while count is None or received < count:
                try:
                    result, error, arrived = answers.get(timeout=self.connection.timeout_s)
                except queue.Empty:
                    raise StreamLost(f"{what} had no answer in {self.connection.timeout_s:.0f} s after {received} "
                                     "answer(s): what arrived is incomplete; send the stream again") from None
                if result is None and arrived is None:  # the sender is done
                    if failure:
                        raise failure[0]
                    count = error
                    continue
                if error is not None:
                    raise stream_lost(classify(error), what, received)
                index = int(result.get_response().id)
                tensors = {name: result.as_numpy(name) for name in names}
                received += 1
                yield StreamResult(tensors["TRANSCRIPT"].reshape(-1)[0].decode("utf-8"),
                                   final=bool(last) and index == last[0], chunk=index,
                                   latency_s=arrived - sent[index],
                                   words=unpack_words(tensors)[0] if timestamps else None, sent_at=sent[index])
        finally:
            client.stop_stream(cancel_requests=True)
            client.close()
            sender.join(timeout=5)


def _with_last(items: Iterable):
    """(item, whether it is the last) for each item."""
    iterator = iter(items)
    try:
        previous = next(iterator)
    except StopIteration:
        return
    for item in iterator:
        yield previous, False
        previous = item
    yield previous, True


def chunked(audio: np.ndarray, chunk_ms: float) -> list[np.ndarray]:
    """``audio`` cut into chunks of ``chunk_ms`` milliseconds (the last may be shorter)."""
    size = max(1, int(round(chunk_ms * SAMPLE_RATE / 1000)))
    return [audio[start : start + size] for start in range(0, max(1, audio.shape[0]), size)]
