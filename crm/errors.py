"""One application error type, and the one catalogue of error codes.

Services raise `AppError(code, message)`: `code` is stable and machine-readable (partners branch on
it), `message` is the Chinese text for people, often more precise than the code's own text. The
API renders it as problem+json, the admin and the pages as a message.

Every code is declared in its app's `error_codes.py` (the kernel's packages have theirs too) in
one style: a constant, and its text in both languages the product speaks in that module's
`TEXTS`, registered here with `error_texts_register(TEXTS)` when the module is imported. An
English caller of the partner API reads the code's English text (tests/test_error_codes.py
holds that every code has both).
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.utils import translation


def localized(zh: str, en: str) -> str:
    """The text in the active language (LocaleMiddleware activates it from Accept-Language; the
    pages are always Chinese)."""
    language = translation.get_language() or "zh-hans"
    return en if language.lower().startswith("en") else zh


@dataclass(frozen=True)
class ErrorText:
    zh: str
    en: str

    def __str__(self) -> str:
        return localized(self.zh, self.en)


# code -> its text, for every code of every app (each error_codes module registers its own).
ERROR_TEXTS: dict[str, ErrorText] = {}


def error_texts_register(texts: Mapping[str, ErrorText]) -> None:
    """Add an error_codes module's texts to the catalogue. A code is one thing everywhere: a code
    registered twice must mean the same."""
    for code, text in texts.items():
        known = ERROR_TEXTS.setdefault(code, text)
        if known != text:
            raise ValueError(f"error code {code!r} is declared twice with different texts")


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
