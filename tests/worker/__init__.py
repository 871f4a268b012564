"""Tests of `moderation worker` against the real NATS JetStream and RabbitMQ."""
