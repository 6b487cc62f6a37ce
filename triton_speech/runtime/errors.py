"""Errors whose message is meant for the client that sent the request."""


class InputError(ValueError):
    """A request's input is invalid; the message names the tensor and the problem."""
