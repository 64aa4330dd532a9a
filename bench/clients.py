"""The other client of a benchmark: the naive baseline (the Terraform provider's retry policy)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx

# The Terraform provider's policy (confluentinc/terraform-provider-confluent, built on
# hashicorp/go-retryablehttp): retry a 429 up to 4 times, waiting Retry-After when the answer has
# one, else 1, 2, 4, 8 s (capped at 30); Terraform runs 10 operations at a time by default.
NAIVE_RETRIES = 4
NAIVE_WAIT_MIN, NAIVE_WAIT_MAX = 1.0, 30.0
NAIVE_PARALLELISM = 10


@dataclass
class NaiveResult:
    accepted: int = 0
    lost: int = 0  # refused after the last retry, or answered with an error
    refused: int = 0  # 429 answers


class NaiveClient:
    def __init__(self, http: httpx.AsyncClient, parallelism: int = NAIVE_PARALLELISM) -> None:
        self._http = http
        self._parallelism = parallelism

    async def restart_all(self, paths: list[str]) -> NaiveResult:
        result = NaiveResult()
        pending = iter(paths)

        async def worker() -> None:
            for path in pending:  # one shared iterator: each path goes to exactly one worker
                await self._restart(path, result)

        await asyncio.gather(*(worker() for _ in range(self._parallelism)))
        return result

    async def _restart(self, path: str, result: NaiveResult) -> None:
        for attempt in range(NAIVE_RETRIES + 1):
            response = await self._http.post(path)
            if response.status_code != 429:
                if response.is_success:
                    result.accepted += 1
                else:
                    result.lost += 1
                return
            result.refused += 1
            if attempt == NAIVE_RETRIES:
                result.lost += 1
                return
            await asyncio.sleep(_wait(attempt, response.headers.get("retry-after")))


def _wait(attempt: int, retry_after: str | None) -> float:
    if retry_after is not None and retry_after.strip().isdigit():
        return float(retry_after)  # go-retryablehttp honours it as given, without the cap
    return min(NAIVE_WAIT_MIN * 2**attempt, NAIVE_WAIT_MAX)
