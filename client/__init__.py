"""Clients of the served models: ``from client import ASRClient, TTSClient``."""

from client.asr import ASRClient
from client.connection import InferenceError, ServerUnavailable, ServerUnreachable, TritonConnection
from client.punctuate import PunctuatorClient
from client.tts import Synthesis, TTSClient

__all__ = [
    "ASRClient", "InferenceError", "PunctuatorClient", "ServerUnavailable", "ServerUnreachable", "Synthesis", "TTSClient",
    "TritonConnection",
]
