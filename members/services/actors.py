"""Who the services record as the actor of a change (ledger entries, tier changes, audit rows)."""

from django.contrib.auth.base_user import AbstractBaseUser


def actor_name(actor: AbstractBaseUser | str | None) -> str:
    """A user's login, or the text a system caller passes ("pos", "api:商城", "campaign:7")."""
    if actor is None:
        return ""
    return actor if isinstance(actor, str) else actor.get_username()
