"""The gateway's settings, from the environment (``make app`` passes them); unset ones are in ``defaults``."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from triton_speech import defaults
from triton_speech.client.connection import default_url


def _env(name: str, default, kind=str):
    value = os.environ.get(name)
    return default if value in (None, "") else kind(value)


def _names(value: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in value.split(",") if name.strip())


@dataclass(frozen=True)
class GatewaySettings:
    # Triton's gRPC endpoint (TRITON_GRPC_PORT on loopback, as make serve starts it)
    triton_url: str = field(default_factory=lambda: default_url("grpc"))
    database_url: str = field(default_factory=lambda: _env("DATABASE_URL", defaults.DATABASE_URL))
    media_dir: Path = field(default_factory=lambda: Path(_env("APP_MEDIA_DIR", defaults.MEDIA_DIR)))
    # Media in a bucket instead (s3://bucket/prefix; AWS_ENDPOINT_URL for an S3 API other than AWS): for gateways on
    # several machines
    media_url: str | None = field(default_factory=lambda: _env("APP_MEDIA_URL", None))
    media_sweep_grace_s: float = field(
        default_factory=lambda: _env("APP_MEDIA_SWEEP_GRACE_SECONDS", defaults.MEDIA_SWEEP_GRACE_SECONDS, float))
    max_upload_bytes: int = field(default_factory=lambda: _env("APP_MAX_UPLOAD_BYTES", defaults.MAX_UPLOAD_BYTES, int))
    # Longer recordings are refused before they reach Triton (which refuses beyond its own max_audio_seconds)
    max_audio_seconds: float = field(
        default_factory=lambda: _env("APP_MAX_AUDIO_SECONDS", defaults.MAX_AUDIO_SECONDS, float))
    # Leading and trailing silence trimmed before the asr request (APP_TRIM_SILENCE=0 sends recordings as they are)
    trim_silence: bool = field(default_factory=lambda: _env("APP_TRIM_SILENCE", "1") != "0")
    max_text_chars: int = defaults.MAX_TEXT_CHARS
    triton_retries: int = defaults.GATEWAY_TRITON_RETRIES
    # Requests without an API key are served, as one anonymous caller (APP_ANONYMOUS=1: a single person's local run)
    anonymous: bool = field(default_factory=lambda: _env("APP_ANONYMOUS", "0") == "1")
    # Host header names served (APP_ALLOWED_HOSTS, comma-separated; "*.example.com" and "*" match many)
    allowed_hosts: tuple[str, ...] = field(
        default_factory=lambda: _env("APP_ALLOWED_HOSTS", defaults.ALLOWED_HOSTS, _names))
    # Browser origins other than the gateway's own that may call the API (APP_ALLOWED_ORIGINS, comma-separated,
    # e.g. "https://speech.example.com"); they get CORS answers
    allowed_origins: tuple[str, ...] = field(default_factory=lambda: _env("APP_ALLOWED_ORIGINS", (), _names))
    rate_limit: str = field(default_factory=lambda: _env("APP_RATE_LIMIT", defaults.RATE_LIMIT))
    max_concurrent_inference: int = field(
        default_factory=lambda: _env("APP_MAX_CONCURRENT_INFERENCE", defaults.MAX_CONCURRENT_INFERENCE, int))
    local_key_file: Path = field(default_factory=lambda: Path(_env("APP_LOCAL_KEY_FILE", defaults.LOCAL_KEY_FILE)))
    # Live captions (the WebSocket): the longest live recording (APP_MAX_LIVE_SECONDS); frames, pace and pauses
    max_live_seconds: float = field(
        default_factory=lambda: _env("APP_MAX_LIVE_SECONDS", defaults.MAX_LIVE_SECONDS, float))
    live_max_frame_seconds: float = defaults.LIVE_MAX_FRAME_SECONDS
    live_ahead_seconds: float = defaults.LIVE_AHEAD_SECONDS
    live_idle_seconds: float = defaults.LIVE_IDLE_SECONDS
