"""Clients for the Connect APIs, behind one small protocol.

The triggers and the queue only see `ConnectBackend` (assembly.py builds each cluster's one):
Confluent Cloud and self-managed Kafka Connect each implement its four calls (list, status,
restart, error recommendations). Backends neither retry nor pace: the `Gateway` of the call's
rate-limit lane paces, measures and logs every call, and the restart queue decides what is tried
again (queue/dispatch.py).

One job per file:

    backend.py        `ConnectBackend`, `ApiResult` (what every call returns), `Endpoint`
    answers.py        what any answer says: its outcome, its fields, the server's reason for an
                      error, a page that is not the API's, why a call got no answer
    lenient_json.py   a body read as JSON whatever its bytes, into text every store takes
    masking.py        the credentials a request carried, and any URL's, starred out of upstream text
    statuses.py       a connector's status object read leniently; a restart's answer, in one line
    cloud.py          Confluent Cloud's Connect API (connect/v1)
    kafka_connect.py  self-managed Apache Kafka Connect's REST API, through any of its workers
    worker_answers.py  how a worker's answer is read: the call's result, and the answers that say
                      a rebalance, a leader out of reach, or a worker not serving yet
    proxy_upstream.py  a proxy's own 502/504 page in front of a worker, and whether the worker
                      behind it is there at all (a restart it did not reach goes to the next)
    task_restarts.py  a restart a worker before 3.0 did only in part, finished task by task
    entries.py        the expanded list read entry by entry: status, lcc- id, connector class
    status_by_status.py  a self-managed cluster read status by status, when its expanded list
                      cannot be read whole
    metrics_api.py    Confluent's Metrics API query, for "RUNNING but not moving data"
    gateway.py        `Gateway`: every call of one rate-limit lane paced, measured, logged
    refusal.py        a lane's key refused (401), or its egress proxy (407): its restarts held,
                      queued, until it works again
    transfer.py       one upstream call bounded as a whole: its time, its answer's size
    inflate.py        a compressed body decoded a piece at a time, within that size
    paths.py          a name made one URL path segment
    proxy_auth.py     the egress proxies' credentials, to star out of every text shown
"""

from .backend import ApiResult, ConnectBackend, Endpoint
from .cloud import ConfluentCloudBackend
from .gateway import Gateway

__all__ = ["ApiResult", "ConnectBackend", "ConfluentCloudBackend", "Endpoint", "Gateway"]
