"""The gateway's routes, one router per surface: ``openai`` (OpenAI-compatible audio, ``/v1``), ``stored``
(stored transcriptions and speech, ``/api``), ``live`` (live captions, a WebSocket), ``health`` and ``web`` (the page
and the API documentation)."""
