"""What one caller may ask of the gateway: requests per time (a moving window, the ``limits`` library) and
inference requests in flight at once. Both are counted in this process, per key (the anonymous caller counts as
one key); beyond them a caller gets 429 with ``Retry-After``."""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from triton_speech.gateway.errors import APIError
from triton_speech.gateway.keys import Caller


class RateLimit:
    """``limit`` in the ``limits`` notation: ``120/minute``, ``10/second``, ``1000/hour``, ``5 per 10 seconds``."""

    def __init__(self, limit: str):
        self.limit = parse(limit)
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    def retry_after(self, caller: Caller) -> int | None:
        """Count a request of ``caller``; None when it is within the limit, else the seconds until it would be."""
        key = str(caller.key_id)
        if self.limiter.hit(self.limit, key):
            return None
        reset = self.limiter.get_window_stats(self.limit, key).reset_time
        return max(1, math.ceil(reset - time.time()))

    def refusal(self, retry_after: int) -> APIError:
        return APIError(429, f"too many requests for this key (at most {self.limit}): try again in {retry_after} s",
                        headers={"Retry-After": str(retry_after)})


class InferenceSlots:
    """At most ``per_caller`` inference requests of one caller in flight; the next is refused, not queued (a queue
    would let one caller hold the server's time the same way)."""

    RETRY_AFTER_S = 1

    def __init__(self, per_caller: int):
        self.per_caller = per_caller
        self.in_flight: Counter = Counter()

    @contextmanager
    def hold(self, caller: Caller) -> Iterator[None]:
        if self.in_flight[caller.key_id] >= self.per_caller:
            raise APIError(429, f"this key has {self.per_caller} requests in progress, the most it may have: wait "
                                "for one to finish", headers={"Retry-After": str(self.RETRY_AFTER_S)})
        self.in_flight[caller.key_id] += 1
        try:
            yield
        finally:
            self.in_flight[caller.key_id] -= 1
            if not self.in_flight[caller.key_id]:
                del self.in_flight[caller.key_id]
