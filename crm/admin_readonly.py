"""The one read-only admin mixin, for rows that only services write (logs, proof, history)."""

from typing import Any

from django.http import HttpRequest


class ReadOnlyAdminMixin:
    """Rows written only by services: viewable, never added, changed or deleted here."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
