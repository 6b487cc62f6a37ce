"""Speech to text through the ``asr`` ensemble."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from client.connection import InferenceError, TritonConnection
from triton_speech.audio import load_audio
from triton_speech.errors import InputError

SAMPLE_RATE = 16000


class ASRClient:
    """``ASRClient().transcribe(audio)`` for 16 kHz mono float32 audio, or ``transcribe_files(paths)``."""

    def __init__(self, url: str | None = None, protocol: str = "grpc", model: str = "asr"):
        self.connection = TritonConnection(url, protocol)
        self.model = model

    @staticmethod
    def _tensors(audio: np.ndarray) -> dict[str, np.ndarray]:
        audio = np.asarray(audio, dtype=np.float32).reshape(1, -1)
        return {"AUDIO": audio}

    @staticmethod
    def _text(outputs: dict[str, np.ndarray]) -> str:
        return outputs["TRANSCRIPT"].reshape(-1)[0].decode("utf-8")

    def transcribe(self, audio: np.ndarray) -> str:
        return self._text(self.connection.infer(self.model, self._tensors(audio), ["TRANSCRIPT"]))

    def transcribe_file(self, path: str | Path) -> str:
        return self.transcribe(load_audio(path, SAMPLE_RATE))

    def transcribe_many(self, audios: Sequence[np.ndarray], concurrency: int = 8, progress: bool = False) -> list:
        """Transcripts of many utterances sent concurrently; a failed item holds its exception."""
        return asyncio.run(self._many([lambda a=a: a for a in audios], concurrency, progress))

    def transcribe_files(self, paths: Sequence[str | Path], concurrency: int = 8, progress: bool = True) -> list:
        """Transcripts of many files sent concurrently; a failed item holds its exception (InputError etc.)."""
        return asyncio.run(self._many([lambda p=p: load_audio(p, SAMPLE_RATE) for p in paths], concurrency, progress))

    async def _many(self, loaders, concurrency: int, progress: bool) -> list:
        client = await self.connection.open_async()
        gate = asyncio.Semaphore(concurrency)
        bar = tqdm(total=len(loaders), desc="transcribing", unit="file", disable=not progress)

        async def one(load):
            async with gate:
                try:
                    tensors = self._tensors(load())
                    return self._text(await self.connection.infer_async(client, self.model, tensors, ["TRANSCRIPT"]))
                except (InputError, InferenceError) as error:
                    return error
                finally:
                    bar.update(1)

        try:
            return await asyncio.gather(*(one(load) for load in loaders))
        finally:
            bar.close()
            await client.close()
