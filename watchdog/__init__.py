"""connect-watchdog: keeps Kafka connectors healthy, on Confluent Cloud and on self-managed Kafka
Connect clusters.

README.md's "Layout and vocabulary follow" paragraph names every module and package here, each
with its one job; every package's `__init__.py` lists its files.
"""

__version__ = "0.1.0"
