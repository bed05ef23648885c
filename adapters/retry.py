"""Run a help desk's API calls in long jobs (backfill, reconciliation), waiting out `Transient` errors.

A 429 or 503 with Retry-After is waited out (plus a hair: the clients hold every call until the
rate-limit window has passed); without one the wait doubles, capped at 30 s. After `max_retries`, or when
asked to wait longer than `max_wait`, the error is raised and the job resumes from its saved cursor later.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from connector.errors import Transient

log = logging.getLogger("adapters.retry")

MAX_RETRIES = 5
MAX_WAIT_SECONDS = 300.0  # a Retry-After longer than this is raised, not slept through

T = TypeVar("T")


class RetryingCaller:
    """Run client calls, waiting out `Transient` errors (Retry-After when given) a bounded number of times."""

    source = "the help desk"  # named in the log line; subclasses set their source

    def __init__(self, *, sleep: Callable[[float], None] = time.sleep, max_retries: int = MAX_RETRIES,
                 max_wait: float = MAX_WAIT_SECONDS) -> None:
        if max_retries < 0:
            raise ValueError("max_retries must be 0 or more")
        self.sleep = sleep
        self.max_retries = max_retries
        self.max_wait = max_wait
        self.waited = 0.0

    def __call__(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        attempt = 0
        while True:
            try:
                return fn(*args, **kwargs)
            except Transient as err:
                attempt += 1
                wait = err.retry_after if err.retry_after is not None else min(2.0 ** attempt, 30.0)
                if attempt > self.max_retries or wait > self.max_wait:
                    raise
                log.warning(f"{self.source} asked to wait during the backfill; retrying",
                            extra={"outcome": f"wait {wait:.1f}s, attempt {attempt}/{self.max_retries}"})
                pause = max(wait, 0.0) + (0.05 if err.retry_after is not None else 0.0)
                self.waited += pause
                self.sleep(pause)
