"""Integration tests of the inbound SMS worker against real RabbitMQ and MongoDB."""
