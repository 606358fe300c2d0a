"""One published hook: how a lower app tells the apps above it, without importing them.

An app publishes a hook in its `hooks.py` and calls it from its services; apps above connect a
handler from their AppConfig.ready():

    # members/hooks.py
    order_refunded: Hook[OrderRefunded, None] = Hook("order refunded")

    # engagement/apps.py, ready()
    order_refunded.connect(growth_on_order_refunded)

Handlers run in the order they were connected, inside the caller's transaction: they must be
quick, never call the network, and hand real work to a task with `crm.celery.send_on_commit` (an
exception in a handler rolls the caller's change back). Connecting the same function twice is a
no-op, so a `ready()` that runs twice does not act twice. Each app's `hooks.py` documents what its
events mean; this module is only the mechanism, written once.

A handler may say, when connected, when it would write in the caller's transaction
(`needs_transaction`: a question answered without writing, typically from what the process
remembers). A caller whose change is one statement, atomic on its own, asks
`hook.needs_transaction()` first and, when no handler would write, runs that statement without
BEGIN and COMMIT around it (autocommit): the statement alone is the transaction, and the handlers,
still told, find nothing to do. A handler connected without the question is assumed to write.
"""

from collections.abc import Callable
from typing import Generic, TypeVar

Event = TypeVar("Event")
Answer = TypeVar("Answer")


class Hook(Generic[Event, Answer]):
    def __init__(self, name: str) -> None:
        self.name = name
        self._handlers: list[Callable[[Event], Answer]] = []
        self._needs_transaction: dict[Callable[[Event], Answer], Callable[[], bool]] = {}

    def __repr__(self) -> str:
        return f"<Hook {self.name}: {len(self._handlers)} handler(s)>"

    def connect(
        self, handler: Callable[[Event], Answer], *, needs_transaction: Callable[[], bool] | None = None
    ) -> Callable[[Event], Answer]:
        """Register `handler` (usable as a decorator); a second registration is a no-op.
        `needs_transaction()`: whether the handler, told now, would write in the caller's
        transaction (see the module's docstring); without it, it is assumed to."""
        if handler not in self._handlers:
            self._handlers.append(handler)
            if needs_transaction is not None:
                self._needs_transaction[handler] = needs_transaction
        return handler

    def disconnect(self, handler: Callable[[Event], Answer]) -> None:
        if handler in self._handlers:
            self._handlers.remove(handler)
            self._needs_transaction.pop(handler, None)

    def needs_transaction(self) -> bool:
        """Whether some handler, told now, would write in the caller's transaction."""
        for handler in self._handlers:
            question = self._needs_transaction.get(handler)
            if question is None or question():
                return True
        return False

    def tell(self, event: Event) -> list[Answer]:
        """Call every handler now, in the caller's transaction; their answers in connection order
        (most hooks answer None; a few collect, like the sections of a member's data copy)."""
        return [handler(event) for handler in list(self._handlers)]

    def handlers(self) -> tuple[Callable[[Event], Answer], ...]:
        return tuple(self._handlers)
