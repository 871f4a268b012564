"""Credentials in URLs never reach a log line (httpx logs each request's URL)."""

from __future__ import annotations

import logging

import httpx
import pytest

from moderation_core._redact import redact_query_params


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
