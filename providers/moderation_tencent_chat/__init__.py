"""Tencent Cloud Chat moderation provider (type ``tencent_chat``)."""
