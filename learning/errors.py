"""Domain errors of the learning app, raised by services and mapped to responses by views and API."""

from __future__ import annotations


class LearningError(ValueError):
    """An action was refused; ``message`` is translated and fit to show to the member.

    ``code`` says why (``invalid``, ``state``, ``forbidden``, ``attempts``, ``expired``, ``type``,
    ``size``...); ``status`` is the HTTP status the API answers with."""

    def __init__(self, message: str, *, code: str = "invalid", status: int = 422) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
