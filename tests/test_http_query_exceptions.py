"""Which routes look at their query, and what a scrape or a probe with a stray parameter gets."""

from __future__ import annotations

import httpx

from watchdog.server import create_app

from .test_api_bounds import world


async def test_a_metrics_name_filter_naming_no_metric_is_refused_and_parameters_that_change_nothing_are_ignored() -> None:
    # /metrics?name[]=x answered 200 with an empty page (prometheus_client's filter selects
    # nothing): a scrape config with a stray `params:` got a target that is up and writes no
    # series, and every alert on the daemon's metrics went quiet without an error.
    w, _ = world()
    app = create_app(w.daemon.metrics.registry, w.daemon.probes, w.daemon.api_context())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://daemon") as http:
        typo = await http.get("/metrics", params={"name[]": ["watchdog_build_info", "watchdog_biuld_info"]})
        chosen = await http.get("/metrics", params={"name[]": "watchdog_build_info"})
        stray = await http.get("/metrics", params={"module": "kafka"})
        healthz = await http.get("/healthz", params={"verbose": "1"})
        readyz = await http.get("/readyz", params={"verbose": "1"})
    assert typo.status_code == 400, (typo.status_code, typo.text[:200])
    assert "name[] names no metric of this daemon: 'watchdog_biuld_info'" in typo.json()["error"]
    # A name it has still selects that metric alone, as prometheus_client's filter does.
    assert chosen.status_code == 200 and "watchdog_build_info{" in chosen.text
    assert "watchdog_restarts_total" not in chosen.text
    # The documented exceptions: a parameter that changes nothing is ignored, so that a scrape or
    # a probe never fails over one (a failed liveness probe restarts the pod).
    assert stray.status_code == 200 and "watchdog_build_info{" in stray.text and "# HELP" in stray.text
    assert healthz.status_code == 200 and readyz.status_code in (200, 503)
