"""RabbitMQ for every service: connection, topology, confirmed publishing, the consumer runtime."""

from shared.broker.connection import connect
from shared.broker.consumer import (
    ATTEMPT_HEADER,
    ERROR_MESSAGE_HEADER,
    ERROR_TYPE_HEADER,
    FAILED_QUEUE_HEADER,
    AlreadyProcessed,
    Consumer,
    Handler,
    PermanentError,
)
from shared.broker.publisher import Publisher, PublishFailed, UnroutableEvent
from shared.broker.queues import ConsumerQueue, catalogue
from shared.broker.retry import RetryPolicy
from shared.broker.topology import (
    declare_consumer_queues,
    declare_exchange,
    parking_queue_name,
    retry_queue_name,
)

__all__ = [
    "ATTEMPT_HEADER",
    "ERROR_MESSAGE_HEADER",
    "ERROR_TYPE_HEADER",
    "FAILED_QUEUE_HEADER",
    "AlreadyProcessed",
    "Consumer",
    "ConsumerQueue",
    "Handler",
    "PermanentError",
    "PublishFailed",
    "Publisher",
    "RetryPolicy",
    "UnroutableEvent",
    "catalogue",
    "connect",
    "declare_consumer_queues",
    "declare_exchange",
    "parking_queue_name",
    "retry_queue_name",
]
