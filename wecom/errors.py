"""Typed WeCom API errors. Each carries WeCom's `errcode` and `errmsg`; `retryable` says whether
a celery task should retry later (with backoff) or give up and surface the error."""

from typing import ClassVar


class WecomError(Exception):
    """Base of everything the WeCom client raises."""

    retryable: ClassVar[bool] = False

    def __init__(self, errcode: int, errmsg: str, path: str = "") -> None:
        super().__init__(f"WeCom {path or 'call'} failed: errcode={errcode} errmsg={errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg
        self.path = path

    def __reduce__(self) -> tuple[type["WecomError"], tuple[int, str, str]]:
        # Celery pickles the exception of a failed or retried task; the default reduce would call
        # __init__ with the formatted message only and fail to rebuild it.
        return (type(self), (self.errcode, self.errmsg, self.path))


class WecomTransportError(WecomError):
    """Timeout, connection failure or 5xx: nothing was learned, try again later."""

    retryable = True


class WecomProtocolError(WecomError):
    """The server answered something that is not WeCom's JSON (a proxy page, a 4xx)."""


class WecomApiError(WecomError):
    """WeCom answered with a non-zero errcode not covered by a subclass."""


class InvalidCredential(WecomApiError):
    """40001: the app secret is wrong (or was reset). Fetching another token cannot help."""


class AccessTokenInvalid(WecomApiError):
    """40014 / 42001: the token was invalidated or expired early. The client refreshes once."""


class RateLimited(WecomApiError):
    """45009 frequency limit, 45033 concurrency limit: back off; never hot-loop."""

    retryable = True


class NoPermission(WecomApiError):
    """48002: the app has no permission for this API (customer contact not granted)."""


class UntrustedIp(WecomApiError):
    """60020: this server's IP is not on the app's trusted list."""


class InvalidExternalUserid(WecomApiError):
    """40096"""


class NotResigned(WecomApiError):
    """40097: a resigned transfer for a staff member who has not resigned."""


class CustomerLimitExceeded(WecomApiError):
    """40099: the takeover staff member is at their customer limit."""


class AlreadyInTransfer(WecomApiError):
    """40100"""


class TransferTooOften(WecomApiError):
    """40128: a customer can be transferred at most twice in 90 days."""


class BeingTransferred(WecomApiError):
    """40129"""


class HandoverIsTakeover(WecomApiError):
    """40130"""


class NotFollower(WecomApiError):
    """40131: the handover staff member is not this customer's follower."""


class WelcomeAlreadyDelivered(WecomApiError):
    """41051: the welcome code was used (or expired); sending again cannot succeed."""


class TooManyItems(WecomApiError):
    """81017"""


class NoRelationship(WecomApiError):
    """84061: no friend relationship between that staff member and customer."""


ERRORS_BY_CODE: dict[int, type[WecomApiError]] = {
    40001: InvalidCredential,
    40014: AccessTokenInvalid,
    42001: AccessTokenInvalid,
    45009: RateLimited,
    45033: RateLimited,
    48002: NoPermission,
    60020: UntrustedIp,
    40096: InvalidExternalUserid,
    40097: NotResigned,
    40099: CustomerLimitExceeded,
    40100: AlreadyInTransfer,
    40128: TransferTooOften,
    40129: BeingTransferred,
    40130: HandoverIsTakeover,
    40131: NotFollower,
    41051: WelcomeAlreadyDelivered,
    81017: TooManyItems,
    84061: NoRelationship,
}


def error_for(errcode: int, errmsg: str, *, path: str = "") -> WecomApiError:
    return ERRORS_BY_CODE.get(errcode, WecomApiError)(errcode, errmsg, path=path)
