"""The tts pipeline: text normalization and sentences, Tacotron2's decoder loop, WaveGlow and its denoiser,
Griffin-Lim."""
