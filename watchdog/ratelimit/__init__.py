"""Rate-limit pacing for one API credential, fed by the server's answers (see state.py for what
it assumes and guarantees)."""

from .headers import Pause, RateLimitHeaders, parse_headers
from .limiter import LimiterObserver, Permit, RateLimiter
from .state import RateLimitState

__all__ = ["LimiterObserver", "Pause", "Permit", "RateLimitHeaders", "RateLimitState", "RateLimiter", "parse_headers"]
