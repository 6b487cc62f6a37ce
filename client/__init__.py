"""``from client import ASRClient, TTSClient`` and ``python -m client``, as users write them; the code is in
``triton_speech.client``."""

from triton_speech.client import *  # noqa: F403
from triton_speech.client import __all__  # noqa: F401
