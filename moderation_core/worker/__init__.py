"""``moderation worker``: moderate a message stream from NATS JetStream or RabbitMQ
with competing consumers, at least once, with no duplicate results (docs/worker.md)."""

from ._broker import Broker, BrokerError, Delivery, open_broker
from ._settings import WorkerSettings, worker_settings

__all__ = [
    "Broker",
    "BrokerError",
    "Delivery",
    "WorkerSettings",
    "open_broker",
    "worker_settings",
]
