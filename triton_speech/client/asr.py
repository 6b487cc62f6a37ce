"""Speech to text through the ``asr`` ensemble."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from triton_speech.client.audio import load_audio
from triton_speech.client.connection import InferenceError, TritonConnection
from triton_speech.defaults import ASR_SAMPLE_RATE
from triton_speech.runtime.asr.pipeline import Transcript
from triton_speech.runtime.errors import InputError

SAMPLE_RATE = ASR_SAMPLE_RATE


class ASRClient:
    """``ASRClient().transcribe(audio)`` for 16 kHz mono float32 audio, or ``transcribe_files(paths)``."""

    def __init__(self, url: str | None = None, protocol: str = "grpc", model: str = "asr"):
        self.connection = TritonConnection(url, protocol)
        self.model = model
        self._outputs: list[str] | None = None

    @property
    def outputs(self) -> list[str]:
        """TRANSCRIPT, and RAW_TRANSCRIPT when the served ensemble punctuates."""
        if self._outputs is None:
            metadata = self.connection.client.get_model_metadata(self.model, as_json=True) \
                if self.connection.protocol == "grpc" else self.connection.client.get_model_metadata(self.model)
            names = {output["name"] for output in metadata["outputs"]}
            self._outputs = [name for name in ("TRANSCRIPT", "RAW_TRANSCRIPT") if name in names]
        return self._outputs

    @staticmethod
    def tensors(audio: np.ndarray) -> dict[str, np.ndarray]:
        """The request of one utterance (16 kHz mono float32)."""
        audio = np.asarray(audio, dtype=np.float32).reshape(1, -1)
        return {"AUDIO": audio}

    @staticmethod
    def transcript(outputs: dict[str, np.ndarray]) -> Transcript:
        """The ``Transcript`` of one answer (TRANSCRIPT, and RAW_TRANSCRIPT when served)."""
        text = outputs["TRANSCRIPT"].reshape(-1)[0].decode("utf-8")
        raw = outputs["RAW_TRANSCRIPT"].reshape(-1)[0].decode("utf-8") if "RAW_TRANSCRIPT" in outputs else text
        return Transcript(text, raw)

    def recognize(self, audio: np.ndarray) -> Transcript:
        """The transcript (punctuated when the server punctuates) and the raw CTC text."""
        return self.transcript(self.connection.infer(self.model, self.tensors(audio), self.outputs))

    def transcribe(self, audio: np.ndarray) -> str:
        return self.recognize(audio).text

    def transcribe_file(self, path: str | Path) -> str:
        return self.transcribe(load_audio(path, SAMPLE_RATE))

    def transcribe_many(self, audios: Sequence[np.ndarray], concurrency: int = 8, progress: bool = False) -> list:
        """Transcript texts of many utterances sent concurrently; a failed item holds its exception."""
        results = asyncio.run(self._many([lambda a=a: a for a in audios], concurrency, progress))
        return [r.text if isinstance(r, Transcript) else r for r in results]

    def recognize_files(self, paths: Sequence[str | Path], concurrency: int = 8, progress: bool = True) -> list:
        """Transcripts of many files sent concurrently; a failed item holds its exception (InputError etc.)."""
        return asyncio.run(self._many([lambda p=p: load_audio(p, SAMPLE_RATE) for p in paths], concurrency, progress))

    def transcribe_files(self, paths: Sequence[str | Path], concurrency: int = 8, progress: bool = True) -> list:
        return [r.text if isinstance(r, Transcript) else r for r in self.recognize_files(paths, concurrency, progress)]

    async def _many(self, loaders, concurrency: int, progress: bool) -> list:
        outputs = self.outputs
        client = await self.connection.open_async()
        gate = asyncio.Semaphore(concurrency)
        bar = tqdm(total=len(loaders), desc="transcribing", unit="file", disable=not progress)

        async def one(load):
            async with gate:
                try:
                    tensors = self.tensors(load())
                    return self.transcript(await self.connection.infer_async(client, self.model, tensors, outputs))
                except (InputError, InferenceError) as error:
                    return error
                finally:
                    bar.update(1)

        try:
            return await asyncio.gather(*(one(load) for load in loaders))
        finally:
            bar.close()
            await client.close()
