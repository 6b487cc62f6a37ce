"""The asr pipeline: NeMo-compatible log-mel features, the exported QuartzNet, CTC decoding."""
