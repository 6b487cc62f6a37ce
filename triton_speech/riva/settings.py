"""The Riva endpoint's settings: where it listens (RIVA_PORT on APP_HOST), which Triton it asks, and its limits."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from triton_speech import defaults
from triton_speech.client.connection import default_url


@dataclass(frozen=True)
class RivaSettings:
    triton_url: str = field(default_factory=lambda: default_url("grpc"))
    host: str = field(default_factory=lambda: os.environ.get("APP_HOST") or defaults.APP_HOST)
    port: int = field(default_factory=lambda: int(os.environ.get("RIVA_PORT") or defaults.RIVA_PORT))
    language_code: str = defaults.RIVA_LANGUAGE_CODE
    voice_name: str = defaults.RIVA_VOICE_NAME
    subvoice: str = defaults.RIVA_SUBVOICE
    max_message_bytes: int = defaults.RIVA_MAX_MESSAGE_BYTES
    max_text_chars: int = defaults.RIVA_MAX_TEXT_CHARS
    max_texts: int = defaults.RIVA_MAX_TEXTS
    # Streamed audio goes to asr_streaming in chunks of this length, whatever size the client's messages have (the
    # official scripts send 100 ms): each chunk is one pass of the model over its buffer.
    stream_chunk_ms: float = defaults.STREAM_CHUNK_MS
    triton_retries: int = defaults.GATEWAY_TRITON_RETRIES
    # Triton's model names
    asr_model: str = "asr"
    long_model: str = "asr_long"
    streaming_model: str = "asr_streaming"
    tts_model: str = "tts"
    tts_streaming_model: str = "tts_streaming"
    punctuator_model: str = "punctuator"

    @property
    def full_voice_name(self) -> str:
        return f"{self.voice_name}.{self.subvoice}"
