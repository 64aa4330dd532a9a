"""connect-watchdog: keeps Kafka connectors on Confluent Cloud healthy."""

__version__ = "0.1.0"
