"""A reverse proxy's own 502 or 504 page in front of a Kafka Connect worker (nginx, an Ingress, a
Service mesh), and whether the worker behind that proxy is there at all.

nginx answers a refused upstream connection with its HTML `502 Bad Gateway`, not a 503. A restart
of every instance (manual, alert, schedule: not safe to repeat) so answered ended `unconfirmed`,
"the worker may have run it", although no worker had read it, and since the worker asked first
moves only on an answer, every such restart until the next poll went to the same dead worker (7
of 10 lost against real 4.3.1 workers behind a proxy, the two others serving: probe s73).

So a 502 page on such a call is followed by a GET of the worker's root `/` through the same URL
(`upstream_down`). Answered by the proxy's 502/503 page again, or refused, the worker behind it is
down, and a worker that is down did not run the call: it goes on to the next worker, within the
same restart.

The one case that may restart twice: a worker that read the call, passed it on to the leader and
died in that instant (its proxy then answers 502 for a reset upstream, and the GET finds nothing
behind it), while the leader ran the restart. That is the lesser harm, and taken knowingly: a
restart run twice stops and starts the connector's instances twice within seconds, as a
rebalance does (and the worker's death rebalances the group anyway, which restarts the instances
it ran), with no data lost (sinks and sources go on from committed offsets); a restart taken for
"may have run" and not made leaves a FAILED connector FAILED until someone at 3 a.m. notices. A
504 (the proxy stopped waiting: the worker took the call and hung, and may run it once it resumes
or has passed it on to a leader that is still at it) is not probed: it stays `unconfirmed`.
"""

from __future__ import annotations

from dataclasses import replace

import httpx

from .answers import error_message, transport_failure
from .transfer import NOT_RUN, Answer, CallLimits, fetch
from .worker_answers import connect_error

BAD_GATEWAY = 502
GATEWAY_TIMEOUT = 504
# What the GET of the root may take: the proxy that just answered answers it at once, or not at all.
PROBE_SECONDS = 5.0


def proxy_page(answer: Answer) -> bool:
    """A 502 or 504 that is not Kafka Connect's own error body (`{"error_code": ..., ...}`): the
    answer of a proxy in front of the worker, not of the worker."""
    code = answer.response.status_code
    return code in (BAD_GATEWAY, GATEWAY_TIMEOUT) and connect_error(answer, code) is None


async def upstream_down(http: httpx.AsyncClient, url: str, limits: CallLimits, answer: Answer) -> str | None:
    """When `answer` is a proxy's 502 page (not a 504: see above), why the worker behind the proxy
    at `url` is down: its root `/` was answered by the proxy's 502 or 503 page (no upstream), or
    the connection was refused; None when it may be up (Connect's answer, a 401, a timeout,
    anything else: it may have taken the call), or for any other answer. The GET of the root is
    no Connect API call: it is not counted as one."""
    if answer.response.status_code != BAD_GATEWAY or not proxy_page(answer):
        return None
    bound = replace(limits, total_seconds=min(limits.total_seconds, PROBE_SECONDS))
    try:
        answer = await fetch(http, "GET", f"{url}/", bound, timeout=httpx.Timeout(PROBE_SECONDS))
    except httpx.HTTPError as exc:
        if isinstance(exc, NOT_RUN):
            return f"GET / refused too ({transport_failure(exc)})"
        return None
    code = answer.response.status_code
    if code in (BAD_GATEWAY, 503) and connect_error(answer, code) is None:
        return f"GET / answered {code} {error_message(answer.response)} too"
    return None
