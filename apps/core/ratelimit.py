"""Fixed-window request counters in the cache (Redis in production), for the doors DRF's
throttles do not cover: the federation listener (per peer), the DoH endpoint and the DNS
gateway (per client address). A window starts with the first request it counts. Keys hold
a hash of what is counted, never the address."""

from blake3 import blake3
from django.core.cache import cache

PERIODS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}


def parse_rate(rate: str) -> tuple[int, int]:
    """How many requests per how many seconds: 600/min is (600, 60)."""
    count, _, period = rate.partition("/")
    if period not in PERIODS or not count.isdigit():
        raise ValueError(f"A rate is <count>/<s|min|hour>, not {rate!r}")
    return int(count), PERIODS[period]


def _key(scope: str, who: str) -> str:
    return f"rate:{scope}:{blake3(f'{scope}:{who}'.encode()).hexdigest()[:32]}"


def over_rate(scope: str, who: str, rate: str) -> bool:
    """Count one request of `who`; True once it is over `rate` in the current window."""
    limit, window = parse_rate(rate)
    key = _key(scope, who)
    cache.add(key, 0, timeout=window)
    try:
        return cache.incr(key) > limit
    except ValueError:  # expired between add and incr: the window just ended
        return False


async def aover_rate(scope: str, who: str, rate: str, cost: int = 1) -> bool:
    """over_rate for async code; `cost` counts several requests at once (a tunnelled
    request is charged all its query names when it is whole)."""
    limit, window = parse_rate(rate)
    key = _key(scope, who)
    await cache.aadd(key, 0, timeout=window)
    try:
        return await cache.aincr(key, cost) > limit
    except ValueError:
        return False


def retry_after(rate: str) -> int:
    """When to try again (at the latest): one window of `rate`."""
    return parse_rate(rate)[1]
