"""Rate-limit pacing for one lane (an API key, a self-managed cluster, or the Metrics API), fed
by the server's answers (see state.py for what it assumes and guarantees).

    headers.py   reading X-RateLimit-* and Retry-After, whatever form a server sends them in
    structured.py  the IETF draft's later structured `RateLimit` / `RateLimit-Policy` fields,
                 read as that triple where no other rate-limit field is there
    limiter.py   the asyncio gate every call with the credential passes (RateLimiter)
    state.py     when the next request may go: the pure decision core (RateLimitState), with three
                 mixins: words.py (the server's Remaining and Reset counted against our
                 requests), refusals.py (what a 429 does: the pause, and what it teaches) and
                 share.py (our share of the key, beside other clients, and the pace kept at it)
    budget.py    what the server's last word leaves us, and how it comes back
    estimate.py  the sustained rate learned from headers and from 429s, with stretch.py (what
                 one stretch between two 429s measured: pure arithmetic) and the mixin
                 climb.py (how the rate climbs back after a cut)
    pacer.py     even spacing at that rate
    inflight.py  how many of our requests may be in flight at once (a server's concurrency limit)
    shared_budget.py  which of the daemon's API keys the server counts in one budget (an
                 organisation-wide limit), read from their answers: those keys' limiters are
                 joined into one state (RateLimiter.share_with)
    outage.py    5xx in a row: the service, not one call, is out (a pause for the key, or a hold
                 on one cluster's restarts)
"""

from .headers import Pause, RateLimitHeaders, parse_headers
from .limiter import LimiterObserver, Permit, RateLimiter
from .state import RateLimitState

__all__ = ["LimiterObserver", "Pause", "Permit", "RateLimitHeaders", "RateLimitState", "RateLimiter", "parse_headers"]
