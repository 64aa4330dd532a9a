"""What an operator does to the real cluster in the tests: create, break, stop, pause, fix.

Records reach a sink through a FileStreamSource that copies the lines of a file into the topic
as plain strings (StringConverter). The workers read values with JsonConverter and schemas
enabled, so a line that is a JSON envelope (`{"schema": ..., "payload": ...}`) is a good record
and any other line is a poison record: the sink's task fails on it with a real trace, and fails
again on it after every restart until the operator moves the connector past it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

POISON = "this line is not JSON"


def good_record(payload: str) -> str:
    return json.dumps({"schema": {"type": "string", "optional": False}, "payload": payload})


class Admin:
    """The cluster's REST API as an operator (or the test) uses it; not the daemon's client."""

    def __init__(self, urls: list[str], files: Path) -> None:
        self.urls = urls
        self.files = files
        files.mkdir(parents=True, exist_ok=True)

    async def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Ask the first worker that answers (a test may have killed one)."""
        error: Exception | None = None
        for url in self.urls:
            try:
                async with httpx.AsyncClient(timeout=30) as http:
                    return await http.request(method, f"{url}{path}", **kwargs)
            except httpx.TransportError as exc:
                error = exc
        raise AssertionError(f"no worker answered {method} {path}: {error}")

    async def put_config(self, name: str, config: dict[str, Any]) -> None:
        response = await self.call("PUT", f"/connectors/{name}/config", json={"name": name, **config})
        assert response.status_code in (200, 201), f"PUT config {name}: {response.status_code} {response.text}"

    async def create(self, name: str, config: dict[str, Any]) -> None:
        """POST /connectors: the name travels in the body, so any name can be created."""
        response = await self.call("POST", "/connectors", json={"name": name, "config": {"name": name, **config}})
        assert response.status_code == 201, f"create {name!r}: {response.status_code} {response.text}"

    async def feed(self, name: str, topic: str, lines: list[str], partitions: int = 1) -> Path:
        """A FileStreamSource copying `lines` (and any appended later) into `topic`."""
        source = self.files / f"{name}.in"
        source.write_text("".join(f"{line}\n" for line in lines))
        await self.put_config(name, {
            "connector.class": "org.apache.kafka.connect.file.FileStreamSourceConnector",
            "file": str(source), "topic": topic, "tasks.max": "1",
            "value.converter": "org.apache.kafka.connect.storage.StringConverter",
            "topic.creation.default.partitions": str(partitions),
            "topic.creation.default.replication.factor": "1",
        })
        return source

    async def sink(self, name: str, topic: str, tasks: int = 1, **config: str) -> Path:
        """A FileStreamSink of `topic` that stops at the first record it cannot convert."""
        out = self.files / f"{name}.out"
        await self.put_config(name, {
            "connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector",
            "file": str(out), "topics": topic, "tasks.max": str(tasks), "errors.tolerance": "none",
            **config,
        })
        return out

    async def delete(self, name: str) -> None:
        response = await self.call("DELETE", f"/connectors/{name}")
        assert response.status_code in (204, 404), f"DELETE {name}: {response.status_code} {response.text}"

    async def status(self, name: str) -> dict[str, Any]:
        response = await self.call("GET", f"/connectors/{name}/status")
        return dict(response.json()) if response.status_code == 200 else {}

    async def stop(self, name: str) -> None:
        response = await self.call("PUT", f"/connectors/{name}/stop")
        assert response.status_code == 204, f"stop {name}: {response.status_code} {response.text}"

    async def pause(self, name: str) -> None:
        response = await self.call("PUT", f"/connectors/{name}/pause")
        assert response.status_code == 202, f"pause {name}: {response.status_code} {response.text}"

    async def wait_for(
        self, name: str, check: Callable[[dict[str, Any]], bool], what: str, timeout: float = 45.0
    ) -> dict[str, Any]:
        """Poll the connector's status until `check` holds; the last status in the error."""
        last: dict[str, Any] = {}

        async def holds() -> bool:
            nonlocal last
            last = await self.status(name)
            return bool(last) and check(last)

        await eventually(holds, timeout, f"{name}: {what} (last status: {brief(last)})")
        return last

    async def wait_for_every_worker(
        self, name: str, check: Callable[[dict[str, Any]], bool], what: str, timeout: float = 45.0
    ) -> None:
        """Poll the connector's status at each worker until `check` holds at all of them. Each
        worker answers from its own copy of the status topic, and the leader plans a restart from
        its copy: a task seen FAILED at one worker may still read RUNNING at the leader for a
        moment under load, and a restart sent then restarts nothing (202, `tasks 0 RUNNING`)."""
        lagging: list[str] = []

        async def holds() -> bool:
            lagging.clear()
            for url in self.urls:
                async with httpx.AsyncClient(timeout=30) as http:
                    response = await http.get(f"{url}/connectors/{name}/status")
                if response.status_code != 200 or not check(response.json()):
                    lagging.append(url)
            return not lagging

        await eventually(holds, timeout, f"{name}: {what} (not yet at {lagging})")


def task_states(status: dict[str, Any]) -> list[str]:
    return [task["state"] for task in sorted(status.get("tasks", []), key=lambda t: t["id"])]


def connector_state(status: dict[str, Any]) -> str:
    return str(status.get("connector", {}).get("state", ""))


def running(status: dict[str, Any], tasks: int = 1) -> bool:
    return connector_state(status) == "RUNNING" and task_states(status) == ["RUNNING"] * tasks


def task_failed(status: dict[str, Any]) -> bool:
    return "FAILED" in task_states(status)


def brief(status: dict[str, Any]) -> str:
    """A status without its traces, for messages."""
    if not status:
        return "none"
    tasks = [(t["id"], t["state"], t.get("worker_id")) for t in status.get("tasks", [])]
    return f"{connector_state(status)} on {status.get('connector', {}).get('worker_id')}, tasks {tasks}"


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float, message: str, interval: float = 0.25) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"{message}: not within {timeout:g}s")
        await asyncio.sleep(interval)
