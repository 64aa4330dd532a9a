"""psycopg's own log lines (a pipeline closed on a connection already lost) under one fixed event.

They were events named by their whole message (`error ignored terminating <psycopg.Pipeline [BAD]
at 0x7f41f46f5b50>: the connection is lost`): a new name at every connection loss, with an object's
address in it, which no one could grep, alert on or count."""

from __future__ import annotations

import io
import json
import time

import psycopg

from bench.postgres import PostgresServer
from watchdog.logs import configure_logging


def test_a_pipeline_ended_on_a_lost_connection_is_one_psycopg_warning_event_without_addresses(
    postgres_server: PostgresServer, postgres_url: str,
) -> None:
    stream = io.StringIO()
    configure_logging("INFO", "json", stream)
    for _ in range(2):
        conn = psycopg.connect(postgres_url, password=postgres_server.password.get_secret_value(), autocommit=True,
                               application_name="lost-pipeline")
        try:
            with conn.pipeline():
                conn.execute("SELECT 1")
                with postgres_server.connect() as admin:
                    admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                  "WHERE application_name = 'lost-pipeline'")
                time.sleep(0.2)
                conn.execute("SELECT 1")
        except psycopg.Error:
            pass
        finally:
            conn.close()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    said = [line for line in lines if line.get("logger") == "psycopg"]
    assert said, lines
    assert {line["event"] for line in said} == {"psycopg_warning"}, said
    assert all(" at 0x" not in line["detail"] and line["detail"] for line in said), said
    assert len({line["detail"] for line in said}) == 1, said  # the same words at every loss: one to count
