"""The one exception tree of moderation-core.

::

    ModerationError
      ConfigError            bad or incomplete config, unknown provider type, missing env var
      InvalidContent         a content or call argument rejected before any request
      ProviderError          .provider, .code (vendor code), .retryable
        ProviderUnavailable  timeouts, connection errors, 5xx, vendor internal errors (retryable)
          RateLimited        vendor rate limit; .retry_after seconds or None (retryable)
        AuthError            credentials refused after one refresh
        ProtocolError        the vendor answered something that does not parse
      AllProvidersFailed     (also an ExceptionGroup) every provider's error, in order tried
      StoreUnavailable       the store's database did not answer a read (writes never raise:
                             they wait in the journal); HTTP 503
      ReviewNotFound         (also a LookupError) no review item has this id; HTTP 404
      ReviewClosed           the review item was decided already; .item says how; HTTP 409

A flagged verdict (Review, Block) is a result, never an exception. Retryability
lives in the class, so callers and the router never keep lists of codes.
Messages never carry secrets: providers build them from codes and vendor text only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .store._reviews import ReviewItem

__all__ = [
    "AllProvidersFailed",
    "AuthError",
    "ConfigError",
    "InvalidContent",
    "ModerationError",
    "ProtocolError",
    "ProviderError",
    "ProviderUnavailable",
    "RateLimited",
    "ReviewClosed",
    "ReviewNotFound",
    "StoreUnavailable",
]


class ModerationError(Exception):
    """Base class of every error moderation-core raises."""


class ConfigError(ModerationError):
    """The configuration is wrong; the message names the key, variable or type and where.
    ``problems`` holds one line per problem (every problem found is reported at once)."""

    @property
    def problems(self) -> tuple[str, ...]:
        return (str(self),)


class InvalidContent(ModerationError):
    """The content, or another argument of a call, was rejected before any request
    was sent or any state changed: empty text, a bad URL, text that is not valid
    Unicode, a custom payload nested too deeply, a scene/sender/receiver that is not a
    str of valid Unicode, a bad or too long mute duration. In ``check_many(...,
    return_exceptions=True)`` an invalid item holds its own, named by its index."""


class ProviderError(ModerationError):
    """A provider could not give a verdict.

    ``code`` is the vendor's own error code (int or str) when it sent one.
    """

    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        code: int | str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.code = code

    def __str__(self) -> str:
        where = f"[{self.provider}] " if self.provider else ""
        code = f" (code {self.code})" if self.code is not None else ""
        return f"{where}{self.message}{code}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, provider={self.provider!r}, "
            f"code={self.code!r})"
        )


class ProviderUnavailable(ProviderError):
    """Timeout, connection error, 5xx or a vendor internal error: worth another try."""

    retryable = True


class RateLimited(ProviderUnavailable):
    """The vendor's rate limit was hit; ``retry_after`` is seconds to wait, if known."""

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        code: int | str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, provider=provider, code=code)
        self.retry_after = retry_after


class AuthError(ProviderError):
    """The vendor refused our credentials, even after one refresh."""


class ProtocolError(ProviderError):
    """The vendor answered something that does not parse as its documented shape."""


class AllProvidersFailed(ModerationError, ExceptionGroup[ProviderError]):
    """Every provider failed; ``.exceptions`` holds each error in the order tried."""

    if TYPE_CHECKING:
        # Never a nested group: the router only collects ProviderErrors.
        @property
        def exceptions(self) -> tuple[ProviderError, ...]: ...

    # ExceptionGroup builds instances in __new__; keep our constructor the same shape.
    def __new__(cls, message: str, errors: Sequence[ProviderError]) -> AllProvidersFailed:
        return super().__new__(cls, message, list(errors))

    def __init__(self, message: str, errors: Sequence[ProviderError]) -> None:
        super().__init__(message, list(errors))

    def derive(self, excs: Sequence[ProviderError]) -> AllProvidersFailed:  # type: ignore[override]
        return AllProvidersFailed(self.message, excs)


class StoreUnavailable(ModerationError):
    """The store's database did not answer a read (``Moderator.result``, the review
    queue, statistics); the API answers 503. Writes never raise this: they wait in the
    journal until the database answers (docs/store.md)."""


class ReviewNotFound(ModerationError, LookupError):
    """No review item has this id (docs/review.md)."""


class ReviewClosed(ModerationError):
    """The review item was decided already; ``item`` says by whom, when and how."""

    def __init__(self, item: ReviewItem) -> None:
        self.item = item
        by = f" by {item.reviewer}" if item.reviewer else ""
        super().__init__(f"review {item.id} is already {item.status}{by}; it cannot be decided")
