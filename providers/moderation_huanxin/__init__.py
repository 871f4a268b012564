"""Huanxin (Easemob) text moderation provider (type ``huanxin``)."""
