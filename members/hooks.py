"""Who must hear about membership events, without members importing them (WeCom links waiting
prospects when a member with their unionid appears, and mirrors brand tags as WeCom corp tags).

    from members.hooks import IdentitiesAdded, TagsChanged, on_identities_added, on_tags_changed

    @on_identities_added
    def link_prospects(event: IdentitiesAdded) -> None: ...

Handlers run inside the service's transaction, so they must be quick, must not call the network,
and should hand real work to a task with `crm.celery.send_on_commit` (an exception in a handler
rolls the member change back). The services call them; nothing else does.
"""

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class IdentitiesAdded:
    """A member was enrolled, or identities were bound to an existing member."""

    member_id: int
    kinds: tuple[str, ...]


@dataclass(frozen=True)
class TagsChanged:
    member_ids: tuple[int, ...]
    tag_id: int
    added: bool


_identities_added: list[Callable[[IdentitiesAdded], None]] = []
_tags_changed: list[Callable[[TagsChanged], None]] = []


def on_identities_added(handler: Callable[[IdentitiesAdded], None]) -> Callable[[IdentitiesAdded], None]:
    if handler not in _identities_added:
        _identities_added.append(handler)
    return handler


def on_tags_changed(handler: Callable[[TagsChanged], None]) -> Callable[[TagsChanged], None]:
    if handler not in _tags_changed:
        _tags_changed.append(handler)
    return handler


def identities_added_notify_in_transaction(event: IdentitiesAdded) -> None:
    for handler in _identities_added:
        handler(event)


def tags_changed_notify_in_transaction(event: TagsChanged) -> None:
    if event.member_ids:
        for handler in _tags_changed:
            handler(event)
