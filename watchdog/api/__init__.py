"""The authenticated HTTP routes: Alertmanager's webhook and the restart API.

Every route here requires `Authorization: Bearer <token>` (compared in constant time), caps the
request body, validates JSON with a 4xx that names the bad field, and can only ever lead to a
restart of a configured, watched connector: the caller names a connector, the rules decide.
Alertmanager retries 5xx and not 4xx, so 5xx is kept for "could not take it" (shutting down).

One job per file:

    routes.py     the routes, each behind its guard: the token, the query parameters it takes,
                  the request body read whole and parsed a few at once; every refusal answered
                  and logged
    auth.py       the bearer token checked, and refused tokens counted and logged at most so often
    context.py    `ApiContext`: what of the daemon the routes use
    refusals.py   the refusals the handlers share: a standby's 503, a leader that may not act now,
                  a cluster no name answers to, and when to send again
    admission.py  how many webhooks and restart requests are in progress at once; beyond that,
                  503 `busy` at once, so that they never hold every connection of the cap
    webhook.py    Alertmanager's webhook: its alerts decided a chunk at a time
    webhook_version.py  a webhook version other than the documented one: read, said once
    restarts.py   a restart asked for (POST /v1/restarts) and followed (GET /v1/restarts/{id})
    reads.py      what is read: the connectors' rows (one reading shared), the restart history
    row_reading.py  the connectors' rows read and built in steps, the event loop let go between

(`api_input.py`, beside this package, reads and checks what a request brings.)
"""

from .context import ApiContext
from .routes import api_routes

__all__ = ["ApiContext", "api_routes"]
