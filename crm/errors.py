"""One application error type. Services raise it; the API renders it as JSON, the admin as a message."""

from typing import Any


class AppError(Exception):
    """A refused operation: `code` is stable and machine-readable, `message` is for people."""

    status = 400

    def __init__(
        self,
        code: str,
        message: str,
        *,
        fields: dict[str, list[str]] | None = None,
        status: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = fields or {}
        self.extra = extra or {}
        if status is not None:
            self.status = status

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"


class NotFound(AppError):
    status = 404


class Conflict(AppError):
    status = 409
