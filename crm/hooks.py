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
"""

from collections.abc import Callable
from typing import Generic, TypeVar

Event = TypeVar("Event")
Answer = TypeVar("Answer")


class Hook(Generic[Event, Answer]):
    def __init__(self, name: str) -> None:
        self.name = name
        self._handlers: list[Callable[[Event], Answer]] = []

    def __repr__(self) -> str:
        return f"<Hook {self.name}: {len(self._handlers)} handler(s)>"

    def connect(self, handler: Callable[[Event], Answer]) -> Callable[[Event], Answer]:
        """Register `handler` (usable as a decorator); a second registration is a no-op."""
        if handler not in self._handlers:
            self._handlers.append(handler)
        return handler

    def disconnect(self, handler: Callable[[Event], Answer]) -> None:
        if handler in self._handlers:
            self._handlers.remove(handler)

    def tell(self, event: Event) -> list[Answer]:
        """Call every handler now, in the caller's transaction; their answers in connection order
        (most hooks answer None; a few collect, like the sections of a member's data copy)."""
        return [handler(event) for handler in list(self._handlers)]

    def handlers(self) -> tuple[Callable[[Event], Answer], ...]:
        return tuple(self._handlers)
