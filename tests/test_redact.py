"""Credentials in URLs never reach a log line (httpx logs each request's URL)."""

from __future__ import annotations

import logging
import re
from urllib.parse import quote, quote_plus

import httpx
import pytest

from moderation_core._redact import redact_query_params, scrub_secrets


def test_declared_query_params_are_redacted_in_httpx_log_lines(
    caplog: pytest.LogCaptureFixture,
) -> None:
    redact_query_params(["sig"])
    with caplog.at_level(logging.INFO, logger="httpx"):
        logging.getLogger("httpx").info(
            'HTTP Request: %s %s "%s"', "POST", "https://x.test/v4?a=1&sig=S3CR3T&b=2", "200 OK"
        )
    assert "S3CR3T" not in caplog.text
    assert "sig=FILTERED&b=2" in caplog.text
    assert "a=1" in caplog.text


def test_real_requests_are_logged_redacted(caplog: pytest.LogCaptureFixture) -> None:
    redact_query_params(["usersig"])
    transport = httpx.MockTransport(lambda request: httpx.Response(200))
    with caplog.at_level(logging.INFO, logger="httpx"), httpx.Client(transport=transport) as client:
        client.post("https://x.test/v4/im?sdkappid=1&usersig=eJyrVgrxCdYrSy1S&random=7")
    assert "eJyrVgrxCdYrSy1S" not in caplog.text
    assert "usersig=FILTERED" in caplog.text


# -- issue 9 item 27: a vendor echoing a secret URL-encoded ---------------------------------

SIG = "eJyrVgrxCdYrSy1S/li+DE*x-y_z=="


@pytest.mark.parametrize(
    "echo",
    [
        SIG,
        quote(SIG, safe=""),
        re.sub("%[0-9A-F]{2}", lambda m: m.group(0).lower(), quote(SIG, safe="")),
        quote(SIG),
        quote_plus("user sig " + SIG).removeprefix("user+sig+"),
        quote_plus(SIG),
    ],
)
def test_the_vendor_text_scrubber_masks_every_spelling(echo: str) -> None:
    text = f"bad usersig={echo}&random=1 (see {echo})"
    scrubbed = scrub_secrets(text, [SIG])
    assert echo not in scrubbed
    assert scrubbed == "bad usersig=***&random=1 (see ***)"


def test_a_secret_with_a_space_is_masked_form_encoded() -> None:
    secret = "two words+plus/slash"
    for echo in (quote_plus(secret), quote(secret), quote(secret, safe="")):
        assert scrub_secrets(f"x {echo} y", [secret]) == "x *** y"
    assert scrub_secrets("nothing here", ["", "abc"]) == "nothing here"
