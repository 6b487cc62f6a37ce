"""Clients of the served models: ``from client import ASRClient, TTSClient``."""

from client.asr import ASRClient
from client.connection import InferenceError, ServerUnreachable, TritonConnection
from client.tts import Synthesis, TTSClient

__all__ = ["ASRClient", "InferenceError", "ServerUnreachable", "Synthesis", "TTSClient", "TritonConnection"]
