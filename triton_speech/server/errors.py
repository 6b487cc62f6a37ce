"""The launcher's one error."""


class ServerError(RuntimeError):
    """The server could not be started or did not become ready."""
