"""Direct tests of the shared limiter, the daily budget and the token-cost table (no HTTP)."""

from __future__ import annotations

import random
import threading
import time
from datetime import UTC, datetime

import pytest

from pipedrive_source.errors import DailyBudgetExhausted
from pipedrive_source.ratelimit import (
    DailyBudget,
    SlidingWindowLimiter,
    burst_limit_for,
    is_search_path,
    next_midnight_utc,
    normalize_path,
    token_cost,
)


def _max_in_window(stamps: list[float], window: float) -> int:
    stamps = sorted(stamps)
    best, j = 0, 0
    for i, t in enumerate(stamps):
        while stamps[j] <= t - window:
            j += 1
        best = max(best, i - j + 1)
    return best


def test_window_holds_across_threads_whatever_the_transit_time() -> None:
    """The server stamps a request anywhere between our send and its answer: the count must hold
    for both extremes."""
    limiter = SlidingWindowLimiter(10, window=0.2, headroom=0)
    sends: list[float] = []
    answers: list[float] = []
    lock = threading.Lock()

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(10):
            limiter.acquire()
            with lock:
                sends.append(time.monotonic())
            time.sleep(rng.uniform(0, 0.03))  # transit + server time
            with lock:
                answers.append(time.monotonic())
            limiter.release()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    assert len(sends) == len(answers) == 60
    assert _max_in_window(sends, 0.2 - 0.002) <= 10
    assert _max_in_window(answers, 0.2 - 0.002) <= 10
    assert 1.0 - 0.02 <= elapsed < 2.0  # 60 at 10 per 0.2 s: >= 5 windows, and little waste
    assert limiter.in_window() <= 10


def test_unsent_requests_free_their_slot_at_once() -> None:
    limiter = SlidingWindowLimiter(2, window=5.0, headroom=0)
    limiter.acquire()
    limiter.acquire()
    limiter.release(sent=False)
    started = time.monotonic()
    limiter.acquire()
    assert time.monotonic() - started < 0.1
    assert limiter.in_window() == 2


def test_headroom_keeps_a_margin() -> None:
    assert SlidingWindowLimiter(100).limit == 98
    assert SlidingWindowLimiter(20).limit == 19
    assert SlidingWindowLimiter(10).limit == 9
    assert SlidingWindowLimiter(1).limit == 1
    assert SlidingWindowLimiter(100, headroom=0.05).limit == 95
    assert SlidingWindowLimiter(100, headroom=0).limit == 100


def test_pause_holds_every_thread() -> None:
    limiter = SlidingWindowLimiter(100, window=0.2, headroom=0)
    limiter.pause_for(0.3)
    waited: list[float] = []

    def worker() -> None:
        start = time.monotonic()
        limiter.acquire()
        waited.append(time.monotonic() - start)
        limiter.release()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(waited) == 4 and min(waited) >= 0.28
    # a shorter pause never shortens a running one
    limiter.pause_for(0.3)
    limiter.pause_for(0.01)
    assert limiter.paused_for > 0.2


def test_observe_learns_limit_and_pauses_when_server_has_nothing_left() -> None:
    limiter = SlidingWindowLimiter(100, window=2.0, headroom=0)
    limiter.observe(20, 15, 1)
    assert limiter.server_limit == 20 and limiter.limit == 20
    assert limiter.paused_for == 0
    limiter.observe(20, 0, 1)
    assert 0.9 < limiter.paused_for <= 1.0


def test_burst_limits_by_plan() -> None:
    assert burst_limit_for("professional", oauth=False) == 100
    assert burst_limit_for("Essential", oauth=True) == 80
    with pytest.raises(ValueError, match="unknown Pipedrive plan"):
        burst_limit_for("gold", oauth=False)


def test_budget_refuses_at_the_reserve_and_until_resume() -> None:
    now = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)
    budget = DailyBudget(0.2, now=lambda: now)
    budget.reserve_cost(10)  # nothing known yet: allowed
    budget.release(10)
    budget.observe(1000, 300)  # floor = 200
    budget.reserve_cost(50)
    with pytest.raises(DailyBudgetExhausted) as info:
        budget.reserve_cost(60)  # 300 - 50 in flight - 200 = 50 < 60
    assert info.value.resume_at == datetime(2026, 3, 5, tzinfo=UTC)
    assert "2026-03-05 00:00:00" in str(info.value)
    assert "20%" in str(info.value)
    budget.release(50)
    with pytest.raises(DailyBudgetExhausted):
        budget.reserve_cost(1)  # stays refused (no request) until resume_at or reset()
    budget.reset()
    budget.reserve_cost(1)


def test_budget_resumes_after_resume_at_and_on_new_day() -> None:
    clock = {"now": datetime(2026, 3, 4, 23, 59, tzinfo=UTC)}
    budget = DailyBudget(0.0, now=lambda: clock["now"])
    budget.observe(1000, 5)
    with pytest.raises(DailyBudgetExhausted):
        budget.reserve_cost(10)
    clock["now"] = datetime(2026, 3, 5, 0, 0, 1, tzinfo=UTC)
    budget.reserve_cost(10)  # past resume_at: knowledge forgotten, the server is asked again
    budget.observe(1000, 990, settle=10)
    assert budget.snapshot().remaining == 990 and budget.estimate == 990


def test_budget_estimate_is_local_accounting_clamped_by_the_server() -> None:
    budget = DailyBudget(0.2)
    budget.observe(1000, 990)
    budget.reserve_cost(10)
    budget.reserve_cost(10)
    assert budget.estimate == 970
    budget.observe(1000, 985, settle=10)  # the other call is charged or not yet: truth in [975, 985]
    assert budget.estimate == 975
    budget.observe(1000, 960, settle=10)  # someone else spent 15
    assert budget.estimate == 960
    budget.reserve_cost(20)
    budget.observe(1000, 960, settle=20, charged=False)  # a 429: refunded
    assert budget.estimate == 960
    budget.reserve_cost(20)
    budget.release(20)  # connection lost: assume charged until the server says otherwise
    assert budget.estimate == 940
    budget.observe(1000, 960)
    assert budget.estimate == 960
    budget.observe(1000, 990)  # a late answer produced before others: ignored
    assert budget.estimate == 960 and budget.snapshot().remaining == 990
    budget.observe(1000, 1000, settle=0)  # still within reordering distance (< 200): ignored
    assert budget.estimate == 960
    budget.observe(10_000, 9_000)  # a new limit
    assert budget.estimate == 9_000
    budget.observe(10_000, 5_000)
    budget.observe(10_000, 9_990)  # far above: a new budget day
    assert budget.estimate == 9_990


def test_server_exhausted_uses_the_servers_time() -> None:
    budget = DailyBudget(0.2)
    when = datetime(2030, 1, 1, 6, tzinfo=UTC)
    assert budget.server_exhausted(when, "daily request budget exceeded") == when
    with pytest.raises(DailyBudgetExhausted) as info:
        budget.reserve_cost(1)
    assert info.value.resume_at == when


def test_budget_rejects_silly_reserve() -> None:
    with pytest.raises(ValueError):
        DailyBudget(1.5)


def test_next_midnight() -> None:
    assert next_midnight_utc(datetime(2026, 12, 31, 0, 0, tzinfo=UTC)) == datetime(2027, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("method", "path", "version", "cost"),
    [
        ("GET", "/deals/collection", "v1", 10),
        ("GET", "/deals", "v1", 20),
        ("GET", "/deals/42", "v1", 2),
        ("GET", "/deals/42/flow", "v1", 40),
        ("GET", "/deals/42/participants", "v1", 10),
        ("GET", "/pipelines", "v1", 10),
        ("GET", "/itemSearch", "v1", 40),
        ("GET", "/deals", "v2", 10),
        ("GET", "/deals/7", "v2", 1),
        ("GET", "/dealFields/abc123", "v2", 1),
        ("DELETE", "/deals/7", "v1", 6),
        ("GET", "/somethingNew", "v1", 20),
        ("GET", "/somethingNew/9", "v2", 1),
    ],
)
def test_token_costs(method: str, path: str, version: str, cost: int) -> None:
    assert token_cost(method, path, version) == cost


def test_normalize_and_search() -> None:
    assert normalize_path("/deals/12/products?start=0") == "/deals/{id}/products"
    assert normalize_path("leads/adf3a2b0-1c1e-11ee-b5f5-0b9f2a4e6a11") == "/leads/{id}"
    assert is_search_path("/persons/search") and is_search_path("/itemSearch/field")
    assert not is_search_path("/deals/collection")
