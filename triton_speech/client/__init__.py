"""Clients of the served models: ``from client import ASRClient, TTSClient``."""

from triton_speech.client.asr import ASRClient
from triton_speech.client.connection import (
    InferenceError,
    ServerUnavailable,
    ServerUnreachable,
    StreamLost,
    TritonConnection,
)
from triton_speech.client.punctuate import PunctuatorClient
from triton_speech.client.tts import SpeechChunk, Synthesis, TTSClient

__all__ = [
    "ASRClient", "InferenceError", "PunctuatorClient", "ServerUnavailable", "ServerUnreachable", "SpeechChunk",
    "StreamLost", "Synthesis", "TTSClient",
    "TritonConnection",
]
