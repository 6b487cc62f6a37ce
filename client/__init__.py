"""Clients of the served models: ``from client import ASRClient``."""

from client.asr import ASRClient
from client.connection import InferenceError, ServerUnreachable, TritonConnection

__all__ = ["ASRClient", "InferenceError", "ServerUnreachable", "TritonConnection"]
