"""A service seen as the partner API's check-in and claim views see it: they keep no transaction
of their own (crm/api/views.py `own_transaction`), so a one-statement fast path may run without
BEGIN and COMMIT."""

from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
from django.db import DEFAULT_DB_ALIAS, connections, transaction


@contextmanager
def outside_a_transaction(monkeypatch: pytest.MonkeyPatch, service: ModuleType) -> Iterator[list[dict[str, Any]]]:
    """The test's own transaction (which rolls everything back; psycopg's transaction stays open
    underneath, so nothing commits) is hidden from `service`, whose `transaction.atomic` calls are
    recorded. Yields the transactions the service opened."""
    opened: list[dict[str, Any]] = []
    real = transaction.atomic

    def atomic(*args: Any, **kwargs: Any) -> Any:
        opened.append(kwargs)
        return real(*args, **kwargs)

    wrapper = connections[DEFAULT_DB_ALIAS]
    with monkeypatch.context() as patch:
        patch.setattr(service, "transaction", SimpleNamespace(atomic=atomic))
        wrapper.in_atomic_block = False
        try:
            yield opened
        finally:
            wrapper.in_atomic_block = True
