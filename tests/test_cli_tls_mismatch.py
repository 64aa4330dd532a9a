"""`--daemon https://...` pointed at the daemon's plain-HTTP port: a setting to correct (exit 2,
saying the daemon answers plain HTTP), never 75, "may work if run again later"."""

from __future__ import annotations

import asyncio

import pytest

from watchdog.cli import main

from .test_api import AUTH
from .test_http_connections import daemon_server


async def test_an_https_url_to_the_plain_http_daemon_is_a_usage_error_saying_so_for_every_daemon_command(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    # It printed `cannot reach the daemon at https://...: ConnectError: [SSL: WRONG_VERSION_NUMBER]`
    # and exited 75: a deploy pipeline retrying on 75 retried a wrong URL for ever.
    monkeypatch.setenv("WATCHDOG_SERVER__AUTH_TOKEN", AUTH["Authorization"].removeprefix("Bearer "))

    def run(*command: str) -> tuple[int, str]:
        code = main(list(command))
        return code, capsys.readouterr().err

    async with daemon_server(max_connections=8, request_timeout=5.0) as port:
        url = f"https://127.0.0.1:{port}"
        answers = {name: await asyncio.to_thread(run, *command, "--daemon", url)
                   for name, command in (("restart", ["restart", "prod", "orders-sink"]), ("status", ["status"]),
                                         ("history", ["history"]))}
    for name, (code, err) in answers.items():
        assert code == 2, (name, code, err)
        assert "speaks plain HTTP" in err and "give --daemon an http:// URL" in err and "nothing was sent" in err, (name, err)
        assert "cannot reach" not in err, (name, err)
