"""The inference runtime's error vocabulary, one class per HTTP status a client can see.

Every error carries what the OpenAI error envelope needs (``message``, ``type``, ``param``,
``code``) so the server renders all of them through one exception handler; the engines raise them
without knowing anything about HTTP.
"""

from __future__ import annotations


class InferenceError(Exception):
    """Base class: an error a client caused or must wait out; rendered as an OpenAI envelope."""

    status_code = 500
    error_type = "internal_server_error"
    code: str | None = None

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class BadRequestError(InferenceError):
    """The request is malformed or asks for something impossible (HTTP 400)."""

    status_code = 400
    error_type = "BadRequestError"
    code = "bad_request"


class AuthenticationError(InferenceError):
    """A missing or wrong API key (HTTP 401)."""

    status_code = 401
    error_type = "authentication_error"
    code = "invalid_api_key"


class ModelNotFoundError(InferenceError):
    """The ``model`` names neither the base model nor a loaded adapter (HTTP 404)."""

    status_code = 404
    error_type = "NotFoundError"
    code = "model_not_found"


class PromptTooLongError(InferenceError):
    """The prompt does not fit the model's context window (HTTP 413)."""

    status_code = 413
    error_type = "BadRequestError"
    code = "context_length_exceeded"


class QueueFullError(InferenceError):
    """The engine's waiting queue is full; retry later (HTTP 429)."""

    status_code = 429
    error_type = "requests"
    code = "rate_limit_exceeded"


class NotReadyError(InferenceError):
    """The model is still loading or the engine has stopped (HTTP 503)."""

    status_code = 503
    error_type = "ServiceUnavailableError"
    code = "model_not_ready"


class AdapterError(BadRequestError):
    """An adapter cannot be loaded or unloaded (bad path, duplicate or unknown name)."""


class RouteNotFoundError(InferenceError):
    """No such endpoint (HTTP 404)."""

    status_code = 404
    error_type = "NotFoundError"
    code = "not_found"
