"""Benchmarks that print comparison tables: `python -m bench` (or `make bench`) runs them all.

The benchmarks, in the order `python -m bench` runs them (`python -m bench NAME ...` picks some):

    budget          1: the rate limiter against every common limit algorithm and header mode,
                    beside a naive client (the Terraform provider's retries: clients.py)
    reserve         1b: `rate_limit.reserve` on a key shared with another tool
    leave           1c: a key given back: the other tool leaves, the daemon takes its share
    concurrency     1e: a concurrency limit beside the rate limit (at most N requests in progress)
    organization    1f: two keys of one organisation, one rate budget between them
    gateways        1d: behind real nginx and HAProxy rate limiters (real_gateways.py)
    latency         2: from a signal (status poll, Alertmanager webhook) to the restart
    scale           3: 10,000 connectors in 100 clusters (the daemon side: scale_worker.py)
    footprint       4: process start to /readyz and idle memory, daemon and demo
    failover        5: two replicas on a real PostgreSQL, the leader killed (ha.py)
    store           6: the PostgreSQL state store against SQLite, at benchmark 3's scale
    poll_store      6b: one poll of a large cluster, in round trips to a PostgreSQL 1 ms away
    schedule_store  6c: a schedule run restarting many connectors, in the same round trips
                    (for 6b and 6c, delay_proxy.py puts the database 1 ms away)
    config_load     7: loading a config, with libyaml's parser and with PyYAML's own
    rule_match      9: which rule's globs first match a connector name, three ways
    never_decides   11: which status rules never decide, by the index and by every pair
    longrun         8: days of churn on virtual time, and what grows
    row_reading     12: one GET /v1/connectors reading of a store that name churn filled: the
                    event loop's longest hold, read in one go and a page at a time
    churnmem        13: memory under heavy name churn (tracemalloc): where it levels off, which caps bind

What they share:

    fixtures.py     a simulated Confluent Cloud and a daemon config pointing at it
    ratelab.py      one rate-limit experiment: a backlog of restarts against a key
    processes.py    `watchdog simulate` and `watchdog run` as real processes on loopback
    postgres.py     a real PostgreSQL server (Debian's package), for the tests too
    pg_standby.py   a streaming standby of it, promoted in a failover (tests/test_database_failover.py)
    pgbouncer.py    a real PgBouncer (Debian's package) in front of it, for tests/test_database_pooler.py
    report.py       the machine the numbers came from, and plain-text tables
    virtualtime.py  an asyncio event loop on virtual time

Each table says which clock its rows ran on: virtual (bench/virtualtime.py, exact and fast) or
real (loopback sockets, wall time on this machine).
"""
