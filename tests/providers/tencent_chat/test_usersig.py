"""UserSig (TLSSigAPIv2) against the CONTRACTS 1.4 vector, verification, and the cache."""

from __future__ import annotations

import base64
import json
import zlib

import pytest

from moderation_core.testing import Clock
from moderation_tencent_chat import UserSigError, decode_usersig, make_usersig, verify_usersig
from moderation_tencent_chat._usersig import UserSigCache
from tests import fake_secrets as secrets

KEY = secrets.TENCENT_SECRET_KEY  # Tencent's public demo key, as in the vector
VECTOR_TIME = 1700000000
VECTOR_EXPIRE = 15552000
VECTOR_SIG = "LvA7d/Iw7gSsnskvVzBDPOCCDbuNCw4GHwTC0bip+B4="
VECTOR_SIG_USERBUF = "Im15dLZ7jHelhF6mNjTZkjYEA1fu0NUjUnXyvlZjBQs="
VECTOR_USERSIG = (
    "eJyrVgrxCdYrSy1SslJQMtIzUNJRAItkpqTmlWSmZUIkKjIT87NK82CSxSnZiQUFmSlAKUMTAyiAyqVWFGQWpYJkTE1NjR"
    "DiJZm5YFFzNPXFmekgG3zKHM1T9D3LzdODi-OKs8vCqpxcAvydnV2SSv2cy03cPcpDnA2SMgu0nUxslWoBHdYzUg__"
)


def test_contract_vector_fields_and_sig() -> None:
    usersig = make_usersig(1400000000, "xiaojun", KEY, expire=VECTOR_EXPIRE, now=VECTOR_TIME)
    assert decode_usersig(usersig) == {
        "TLS.ver": "2.0",
        "TLS.identifier": "xiaojun",
        "TLS.sdkappid": 1400000000,
        "TLS.expire": VECTOR_EXPIRE,
        "TLS.time": VECTOR_TIME,
        "TLS.sig": VECTOR_SIG,
    }


def test_contract_vector_with_userbuf() -> None:
    usersig = make_usersig(
        1400000000, "xiaojun", KEY, expire=VECTOR_EXPIRE, now=VECTOR_TIME, userbuf=b"\x05"
    )
    fields = decode_usersig(usersig)
    assert fields["TLS.userbuf"] == "BQ=="
    assert fields["TLS.sig"] == VECTOR_SIG_USERBUF
    verify_usersig(
        usersig,
        sdkappid=1400000000,
        identifier="xiaojun",
        key=KEY,
        now=VECTOR_TIME,
        userbuf=b"\x05",
    )


def test_the_contract_usersig_decodes_and_verifies() -> None:
    fields = verify_usersig(
        VECTOR_USERSIG, sdkappid=1400000000, identifier="xiaojun", key=KEY, now=VECTOR_TIME + 1
    )
    assert fields["TLS.sig"] == VECTOR_SIG


def test_outer_string_uses_the_url_alphabet() -> None:
    usersig = make_usersig(1400000000, "xiaojun", KEY, expire=VECTOR_EXPIRE, now=VECTOR_TIME)
    assert usersig == VECTOR_USERSIG  # same json.dumps spacing and zlib level as CONTRACTS
    assert not set(usersig) & set("+/=")
    raw = base64.b64decode(usersig.translate(str.maketrans("*-_", "+/=")))
    assert json.loads(zlib.decompress(raw))["TLS.identifier"] == "xiaojun"


@pytest.mark.parametrize(
    ("change", "kind"),
    [
        ({"sdkappid": 1400000001}, "sdkappid"),
        ({"identifier": "someone"}, "identifier"),
        ({"now": VECTOR_TIME + VECTOR_EXPIRE + 1}, "expired"),
        ({"key": "another-key"}, "sig"),
        ({"userbuf": b"\x05"}, "userbuf"),
    ],
)
def test_verify_names_the_failed_check(change: dict[str, object], kind: str) -> None:
    usersig = make_usersig(1400000000, "xiaojun", KEY, expire=VECTOR_EXPIRE, now=VECTOR_TIME)
    args: dict[str, object] = {
        "sdkappid": 1400000000,
        "identifier": "xiaojun",
        "key": KEY,
        "now": VECTOR_TIME,
    }
    args.update(change)
    with pytest.raises(UserSigError) as caught:
        verify_usersig(usersig, **args)  # type: ignore[arg-type]
    assert caught.value.kind == kind
    assert usersig not in str(caught.value)
    assert KEY not in str(caught.value)


def test_expiry_is_strictly_after_time_plus_expire() -> None:
    usersig = make_usersig(1400000000, "xiaojun", KEY, expire=4, now=VECTOR_TIME)
    verify_usersig(usersig, sdkappid=1400000000, identifier="xiaojun", key=KEY, now=VECTOR_TIME + 4)
    with pytest.raises(UserSigError, match="expired"):
        verify_usersig(
            usersig, sdkappid=1400000000, identifier="xiaojun", key=KEY, now=VECTOR_TIME + 3600
        )


@pytest.mark.parametrize("garbage", ["", "not-a-sig", "eJyrVgrxCdYrSy1S", "****"])
def test_garbage_is_malformed(garbage: str) -> None:
    with pytest.raises(UserSigError) as caught:
        decode_usersig(garbage)
    assert caught.value.kind == "malformed"


def test_cache_reuses_then_renews_ahead_of_expiry() -> None:
    clock = Clock(1000.0)
    cache = UserSigCache(1400000000, "admin", lambda: KEY, expire=1000, clock=clock)
    first = cache.get()
    clock.advance(899)  # a tenth of the validity left: still the same
    assert cache.get() == first
    clock.advance(1)
    renewed = cache.get()
    assert renewed != first
    assert decode_usersig(renewed)["TLS.time"] == 1900


def test_cache_refresh_replaces_only_the_stale_sig() -> None:
    clock = Clock(1000.0)
    cache = UserSigCache(1400000000, "admin", lambda: KEY, expire=86400, clock=clock)
    stale = cache.get()
    clock.advance(10)
    fresh = cache.refresh(stale)
    assert fresh != stale
    assert cache.refresh(stale) == fresh  # a second caller with the same stale sig
    assert cache.get() == fresh
    assert KEY not in repr(cache)
    assert fresh not in repr(cache)
