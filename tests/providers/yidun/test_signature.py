"""The request signature: every official SignerImplTest vector (CONTRACTS-MORE-VENDORS
5a.3) reproduces, and the provider signs what it sends the way the vendor checks it."""

from __future__ import annotations

import hashlib

import pytest

from moderation_yidun import sign, signature_matches, string_to_sign
from moderation_yidun.emulator import DEMO_SECRET_ID, DEMO_SECRET_KEY

# yidun/yidun-java-sdk SignerImplTest.java: x is null, y is empty.
PARAMS: dict[str, str | None] = {
    "x": None,
    "y": "",
    "arg0": "value-of-arg0",
    "param1": "value-of-param1",
    "input2": "value-of-input2",
    "secretId": "a-secret-id-1",
}
SECRET_KEY = "a-secret-key-1"
STRING_TO_SIGN = (
    "arg0value-of-arg0input2value-of-input2param1value-of-param1secretIda-secret-id-1xy"
    "a-secret-key-1"
)
VECTORS = [
    (None, "24080052f8f2a630cfb17d4c5426784d"),
    ("md5", "f367a2956a80ae92eded1d8798357513"),
    ("sha1", "cb14b0d023925b91e90bb24acc93ce206ebd42ce"),
    ("sha256", "36a8270f76d769e120e6d178b6d0ded81093ca11cb930e4bdbf5559a34f4c222"),
]


def test_the_string_to_sign_is_the_official_one() -> None:
    assert string_to_sign(PARAMS, SECRET_KEY) == STRING_TO_SIGN


@pytest.mark.parametrize(("method", "expected"), VECTORS, ids=["absent", "md5", "sha1", "sha256"])
def test_official_vectors(method: str | None, expected: str) -> None:
    params = dict(PARAMS) if method is None else {**PARAMS, "signatureMethod": method}
    assert sign(params, SECRET_KEY) == expected
    assert signature_matches({**params, "signature": expected}, SECRET_KEY)


@pytest.mark.parametrize(
    ("method", "algorithm"), [("MD5", "md5"), ("Sha1", "sha1"), ("SHA256", "sha256")]
)
def test_the_method_name_is_case_insensitive(method: str, algorithm: str) -> None:
    params = {**PARAMS, "signatureMethod": method}
    expected = hashlib.new(algorithm, string_to_sign(params, SECRET_KEY).encode()).hexdigest()
    assert sign(params, SECRET_KEY) == expected


def test_the_demo_credentials_are_the_official_vector_s() -> None:
    assert (DEMO_SECRET_ID, DEMO_SECRET_KEY) == ("a-secret-id-1", "a-secret-key-1")


def test_the_signature_itself_is_not_signed() -> None:
    with_signature = {**PARAMS, "signature": "anything"}
    assert sign(with_signature, SECRET_KEY) == VECTORS[0][1]


def test_values_are_signed_as_utf8() -> None:
    params = {"content": "易盾测试内容！", "secretId": "id"}
    expected = hashlib.md5("content易盾测试内容！secretIdidkey".encode()).hexdigest()  # noqa: S324
    assert sign(params, "key") == expected


def test_a_wrong_key_or_changed_value_does_not_match() -> None:
    signed = {**PARAMS, "signature": VECTORS[0][1]}
    assert not signature_matches(signed, "another-key")
    assert not signature_matches({**signed, "arg0": "changed"}, SECRET_KEY)
    assert not signature_matches({**PARAMS}, SECRET_KEY)  # no signature at all
    # Hex case does not matter (the vendor compares case-insensitively).
    assert signature_matches({**PARAMS, "signature": VECTORS[0][1].upper()}, SECRET_KEY)


def test_an_unknown_method_is_refused() -> None:
    with pytest.raises(ValueError, match="not MD5, SHA1, SHA256 or SM3"):
        sign({**PARAMS, "signatureMethod": "CRC32"}, SECRET_KEY)
    assert not signature_matches(
        {**PARAMS, "signatureMethod": "CRC32", "signature": "00"}, SECRET_KEY
    )


@pytest.mark.skipif("sm3" not in hashlib.algorithms_available, reason="no SM3 in this OpenSSL")
def test_sm3_when_this_python_has_it() -> None:
    params = {**PARAMS, "signatureMethod": "SM3"}
    expected = hashlib.new("sm3", string_to_sign(params, SECRET_KEY).encode()).hexdigest()
    assert sign(params, SECRET_KEY) == expected
