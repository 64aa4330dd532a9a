"""What an `unconfirmed` restart says happens next (probe_kafka finding 2). It said "not sent
again: the next poll shows what became of it", but a SIGSTOPped Kafka Connect worker ran the
restart 1 min 42 s after it was asked, once resumed (after the daemon had given up on the
connector), and no poll can tell a RUNNING connector that was restarted from one that was not.
The words now say the restart may still run later, what a poll cannot show, and where to look."""

from __future__ import annotations

import httpx

from watchdog.connect import ConfluentCloudBackend
from watchdog.connect.backend import MAX_MESSAGE_CHARS
from watchdog.connect.kafka_connect import KafkaConnectBackend
from watchdog.model import Outcome

from .support import CLUSTER_ID, ENVIRONMENT

WORKER_WORDS = ("not sent again; the worker may still run it later (a hung one does once it resumes; its log says "
                "when). A poll cannot show a restart of a RUNNING connector: `watchdog status` shows its "
                "state now")
CLOUD_WORDS = ("not sent again; it may still run later (a hung server runs it once it resumes). A poll cannot show "
               "a restart of a RUNNING connector: `watchdog status` shows its state now")


def hung_on_restarts(request: httpx.Request) -> httpx.Response:
    """The request went out; nothing came back (a worker whose JVM is stopped)."""
    if request.method == "POST":
        raise httpx.ReadTimeout("timed out", request=request)
    return httpx.Response(404)


async def restart_of_every_instance(url: str) -> str:
    async with httpx.AsyncClient(transport=httpx.MockTransport(hung_on_restarts)) as http:
        result = await KafkaConnectBackend(http, [url]).restart("sink-ok", only_failed=False)
    assert result.outcome is Outcome.UNCONFIRMED
    return result.message


async def test_a_restart_a_hung_worker_may_run_later_says_so_and_where_to_look() -> None:
    message = await restart_of_every_instance("http://127.0.0.1:32845")
    assert message == ("no answer from http://127.0.0.1:32845 (ReadTimeout) after the request may have reached it; "
                       + WORKER_WORDS)
    assert "the next poll shows what became of it" not in message


async def test_what_to_do_next_is_kept_whole_when_the_worker_url_is_long() -> None:
    url = "https://connect-worker-1.kafka-connect.payments.prod.eu-west-1.example.internal:8083"
    message = await restart_of_every_instance(url)
    assert len(message) <= MAX_MESSAGE_CHARS and message.endswith("; " + WORKER_WORDS), message
    assert message.startswith("no answer from https://connect-worker-1.")


async def test_a_cloud_restart_without_an_answer_says_it_may_still_run_later() -> None:
    def hung(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    async with httpx.AsyncClient(base_url="https://api.confluent.cloud", transport=httpx.MockTransport(hung)) as http:
        result = await ConfluentCloudBackend(http, ENVIRONMENT, CLUSTER_ID).restart("orders-source")
    assert result.outcome is Outcome.UNCONFIRMED
    assert result.message.endswith("after the request may have reached the API; " + CLOUD_WORDS), result.message
