"""The settings of the test repository the session's servers serve."""

from __future__ import annotations

# Audio limit of the test repository: small, so the over-limit request stays cheap.
TEST_MAX_AUDIO_SECONDS = 20.0
TEST_MAX_PUNCTUATION_CHARS = 2000

# Settings of the test repository: a long queue delay makes the dynamic batcher merge the concurrent
# requests of the batching tests; small limits keep the over-limit requests cheap; small stream blocks make the tiny
# Tacotron2's sentences (at most 40 frames) stream in several chunks.
TEST_STREAM_BLOCK_FRAMES = 8
TEST_MAX_LONG_AUDIO_SECONDS = 40.0
TEST_SETTINGS = dict(
    max_batch_size=8, max_queue_delay_us=20000, max_audio_seconds=TEST_MAX_AUDIO_SECONDS,
    max_long_audio_seconds=TEST_MAX_LONG_AUDIO_SECONDS,
    max_text_chars=400, max_sentence_chars=60, max_punctuation_chars=TEST_MAX_PUNCTUATION_CHARS,
    stream_block_frames=TEST_STREAM_BLOCK_FRAMES,
)
