"""How fast the engine may call one endpoint: an adaptive limit on calls in flight, and a
pace taken from the provider's rate-limit headers.

Calls in flight follow additive increase, multiplicative decrease (as TCP does): each success
adds 1/limit (about one more call in flight per round of successes), and a rate-limit
*episode* halves the limit once. An episode is the burst of 429s answering calls that were
all sent before the last decrease; counting each of them would collapse the limit to the
floor for one burst. A retry-after from the server holds every new call on the endpoint until
it has passed.

Where the provider says its request budget (OpenAI's x-ratelimit-*, Anthropic's
anthropic-ratelimit-* headers), calls are also paced: no faster than the limit per minute
allows, and none at all while the remaining budget is spent, until it resets. That keeps a
run at the provider's rate without being refused, instead of learning the limit from 429s.

What the limiter has learnt outlives one chunk: the limit, the pace, the remaining budget and
any hold are kept per endpoint for the worker process, so the next chunk starts where the
last one left off instead of bursting into the provider's limit again.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass

from runs.providers import RateLimits

DECREASE_FACTOR = 0.5
CATCH_UP_SECONDS = 1.0
"""Starts that came late (a wake-up after its slot, a chunk handing on) are made up within
this window, so small delays do not lower the pace; the remaining budget still bounds it."""

_LEARNT_FIELDS = ("limit", "interval", "next_start", "remaining", "reset_at", "hold_until")
_learnt: dict[int, dict[str, float | None]] = {}
_learnt_lock = threading.Lock()


def learnt_limit(endpoint_id: int, ceiling: int) -> float:
    with _learnt_lock:
        limit = _learnt.get(endpoint_id, {}).get("limit") or float(ceiling)
    return min(float(ceiling), limit)


def limiter_for(endpoint_id: int, ceiling: int) -> AdaptiveLimiter:
    """A limiter for one event loop, starting from what this process learnt of the endpoint."""
    limiter = AdaptiveLimiter(ceiling)
    with _learnt_lock:
        for name, value in _learnt.get(endpoint_id, {}).items():
            setattr(limiter, name, value)
    limiter.limit = min(float(limiter.ceiling), max(float(limiter.floor), limiter.limit))
    return limiter


def remember(endpoint_id: int, limiter: AdaptiveLimiter) -> None:
    with _learnt_lock:
        _learnt[endpoint_id] = {name: getattr(limiter, name) for name in _LEARNT_FIELDS}


@dataclass(frozen=True)
class Ticket:
    """A call's place: the episode it was sent in, and its number among calls started."""

    episode: int
    number: int


class AdaptiveLimiter:
    """Calls in flight on one endpoint, for one event loop.

    `slot()` waits for room under the current limit, for the pace, and for any hold to pass;
    the caller then reports how its call went with `succeeded()` or `rate_limited()`.
    """

    def __init__(self, ceiling: int, *, floor: int = 1) -> None:
        self.ceiling = max(1, ceiling)
        self.floor = max(1, min(floor, self.ceiling))
        self.limit = float(self.ceiling)
        self.in_flight = 0
        self.started = 0
        self.hold_until = 0.0  # time.monotonic() before which no new call starts
        self.episode = 0  # bumped at each decrease
        self.decreases = 0
        self.interval = 0.0  # least seconds between two starts, from the provider's limit
        self.next_start = 0.0
        self.remaining: float | None = None  # calls the provider will still take, estimated
        self.reset_at = 0.0
        self._changed = asyncio.Condition()

    @property
    def allowed(self) -> int:
        return max(self.floor, int(self.limit))

    def _wait(self, now: float) -> float:
        wait = max(self.hold_until, self.next_start) - now
        if self.remaining is not None and self.remaining <= 0:
            if now >= self.reset_at:
                self.remaining = None  # the budget has reset; the next answer tells more
            else:
                wait = max(wait, self.reset_at - now)
        return wait

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[Ticket]:
        """Hold one place in flight for one call."""
        async with self._changed:
            while True:
                wait = self._wait(time.monotonic())
                if wait > 0:
                    with suppress(TimeoutError):
                        await asyncio.wait_for(self._changed.wait(), timeout=wait)
                    continue
                if self.in_flight < self.allowed:
                    break
                await self._changed.wait()
            now = time.monotonic()
            self.in_flight += 1
            self.started += 1
            if self.interval:
                catch_up = max(self.interval, CATCH_UP_SECONDS)
                self.next_start = max(now - catch_up, self.next_start) + self.interval
            if self.remaining is not None:
                self.remaining -= 1
            ticket = Ticket(self.episode, self.started)
        try:
            yield ticket
        finally:
            async with self._changed:
                self.in_flight -= 1
                self._changed.notify_all()

    def succeeded(self) -> None:
        self.limit = min(float(self.ceiling), self.limit + 1.0 / self.limit)

    def observe(self, ticket: Ticket, limits: RateLimits | None) -> None:
        """Take the request budget a response reported; calls started after this one was
        sent are not in the provider's count yet, so they come off what remains."""
        if limits is None:
            return
        if limits.limit:
            self.interval = 60.0 / limits.limit
        if limits.remaining is not None:
            self.remaining = limits.remaining - (self.started - ticket.number)
            if limits.reset_seconds is not None:
                self.reset_at = time.monotonic() + limits.reset_seconds

    def rate_limited(self, ticket: Ticket, retry_after: float | None) -> None:
        """A 429 or overload answer to a call sent with `ticket`."""
        if retry_after:
            self.hold_until = max(self.hold_until, time.monotonic() + retry_after)
        if ticket.episode == self.episode:
            self.limit = max(float(self.floor), self.limit * DECREASE_FACTOR)
            self.episode += 1
            self.decreases += 1
