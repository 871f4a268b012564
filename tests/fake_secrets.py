"""Fake credentials the test suite uses, in one place so one test can prove none of
them ever lands in a cassette, a log line, a repr or an exception message."""

# The public demo key from Tencent's own TLSSigAPIv2 examples (CONTRACTS 1.4).
TENCENT_SECRET_KEY = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"
TENCENT_WEBHOOK_TOKEN = "webhook-token-7f3a9c1e"

HUANXIN_CLIENT_ID = "YXA6client-id-4d1f8e"
HUANXIN_CLIENT_SECRET = "YXA6client-secret-9b2c7a5e3f1d"
HUANXIN_CALLBACK_SECRET = "callback-secret-6e4d2b"

SHUMEI_ACCESS_KEY = "shumei-test-access-key-8c1d5e"
OPENAI_API_KEY = "sk-test-openai-9f3b1c7d5e2a46808c1d"
TENCENT_TMS_SECRET_ID = "AKIDfakeTmsTestId0123456789abcdef"
TENCENT_TMS_SECRET_KEY = "fakeTmsTestKey9f8e7d6c5b4a3210zz"
TENCENT_TMS_TOKEN = "fakeTmsSessionToken-5c4b3a29"
YIDUN_SECRET_ID = "yidun-secret-id-5c2e81"
YIDUN_SECRET_KEY = "yidun-secret-key-9d41f3a7b6"
ALIYUN_ACCESS_KEY_ID = "LTAI5tFakeAliyunKeyId7c3e"
ALIYUN_ACCESS_KEY_SECRET = "fakeAliyunKeySecret2b9d4f6a8c"
ALIYUN_SECURITY_TOKEN = "fakeAliyunStsToken-3e8a1c55"
AZURE_API_KEY = "fa4e0a2b9c8d7e6f5a4b3c2d1e0f9a8b"

ALL = (
    TENCENT_SECRET_KEY,
    TENCENT_WEBHOOK_TOKEN,
    HUANXIN_CLIENT_SECRET,
    HUANXIN_CALLBACK_SECRET,
    SHUMEI_ACCESS_KEY,
    OPENAI_API_KEY,
    TENCENT_TMS_SECRET_KEY,
    TENCENT_TMS_TOKEN,
    YIDUN_SECRET_KEY,
    ALIYUN_ACCESS_KEY_ID,
    ALIYUN_ACCESS_KEY_SECRET,
    ALIYUN_SECURITY_TOKEN,
    AZURE_API_KEY,
)
