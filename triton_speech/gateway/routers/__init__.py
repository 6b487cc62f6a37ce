"""The gateway's routes, one router per surface: ``openai`` (OpenAI-compatible audio, ``/v1``), ``stored``
(stored transcriptions and speech, ``/api``), ``health`` and ``web`` (the page and the API documentation)."""
