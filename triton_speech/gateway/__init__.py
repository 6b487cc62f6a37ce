"""The gateway in front of Triton: REST API (OpenAI-compatible audio endpoints and stored results) and the web app
(``python -m triton_speech.gateway``, ``make app``). It runs no model: every inference is a Triton request."""
