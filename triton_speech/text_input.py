"""Text requests: bytes from the wire to ``str``, with the problems named."""

from __future__ import annotations

from triton_speech.errors import InputError


def decode_utf8(raw: bytes, max_chars: int, what: str = "TEXT") -> str:
    """A request's text bytes as ``str``; InputError names what is wrong (not UTF-8, too long)."""
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        raise InputError(f"{what} must be bytes (UTF-8 text), got {type(raw).__name__}")
    raw = bytes(raw)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError(
            f"{what} is not valid UTF-8: byte 0x{raw[error.start]:02x} at offset {error.start} ({error.reason})"
        ) from None
    if len(text) > max_chars:
        raise InputError(
            f"{what} is {len(text)} characters long; the limit is {max_chars}. Split the text; it is not truncated."
        )
    return text
