"""The page iterators against the simulated company (sim-core routes) over real sockets:
cursor and offset paging, since/until time slices fetched concurrently, faults, page-size caps."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from pipedrive_source.client import PipedriveClient
from pipedrive_source.pagination import format_v1_time, iter_concurrent, split_time_range

# generated update_time values lie in [2023-01-01, 2026-06-01) (CONTRACTS.md "Simulator data rules")
SINCE = datetime(2023, 1, 1, tzinfo=UTC)
UNTIL = datetime(2026, 6, 1, tzinfo=UTC)
FAST = {"backoff_initial": 0.01, "backoff_max": 0.05}


def _collection_ids(client: PipedriveClient, path: str, params: dict | None = None, limit: int = 500) -> list[int]:
    return [r["id"] for page in client.iter_cursor(path, params, limit=limit) for r in page.items]


def test_cursor_and_offset_paging_agree(shared_simulator) -> None:
    sim = shared_simulator
    with PipedriveClient(base_url=sim.base_url, api_token=sim.config.api_token) as client:
        by_cursor = _collection_ids(client, "/persons/collection", limit=37)
        by_offset = [r["id"] for page in client.iter_offset("/persons", {"sort": "id ASC"}, limit=41)
                     for r in page.items]
        stats = client.stats
    assert by_cursor == sorted(set(by_cursor)) and len(by_cursor) == 200
    assert sorted(by_offset) == by_cursor
    assert stats.requests["GET /v1/persons/collection"] == -(-200 // 37)
    assert stats.tokens["GET /v1/persons/collection"] == 10 * stats.requests["GET /v1/persons/collection"]


def test_time_slices_fetched_concurrently_cover_everything_once(shared_simulator) -> None:
    sim = shared_simulator
    with PipedriveClient(base_url=sim.base_url, api_token=sim.config.api_token, max_workers=4) as client:
        whole = _collection_ids(client, "/activities/collection")
        slices = split_time_range(SINCE, UNTIL, 5)
        streams = [
            (lambda s=s, u=u: client.iter_cursor("/activities/collection",
                                                 {"since": format_v1_time(s), "until": format_v1_time(u)},
                                                 limit=100))
            for s, u in slices
        ]
        per_stream: dict[int, list[int]] = {i: [] for i in range(len(slices))}
        for index, page in iter_concurrent(streams, max_workers=4):
            per_stream[index].extend(r["id"] for r in page.items)
    union = [i for ids in per_stream.values() for i in ids]
    assert len(union) == len(set(union))  # boundaries are not fetched twice
    assert sorted(union) == whole and len(whole) == 400
    assert all(ids == sorted(ids) for ids in per_stream.values())  # each stream in its own order


def test_collection_under_faults_returns_exactly_the_records(simulator_factory: Callable) -> None:
    sim = simulator_factory(scale="small", rate_limit=True,
                            faults="500:0.06,503:0.04,reset:0.05,truncate:0.05,html200:0.04,429:0.03@1,seed=4")
    with PipedriveClient(base_url=sim.base_url, api_token=sim.config.api_token, timeout=5, **FAST) as client:
        ids = _collection_ids(client, "/deals/collection", limit=5)
        retries = client.stats.retries
    sim.set_faults(None)
    with PipedriveClient(base_url=sim.base_url, api_token=sim.config.api_token) as clean:
        truth = _collection_ids(clean, "/deals/collection")
    assert ids == truth and len(truth) >= 190
    assert retries > 0
    stats = sim.stats()
    assert stats["lockouts"] == 0


def test_page_size_caps(shared_simulator) -> None:
    sim = shared_simulator
    with PipedriveClient(base_url=sim.base_url, api_token=sim.config.api_token) as client:
        pages = list(client.iter_offset("/callLogs", limit=500))
        first = pages[0].additional_data or {}
    assert first.get("pagination", {}).get("limit") == 50


def test_a_saved_cursor_in_params_resumes_the_stream(shared_simulator) -> None:
    sim = shared_simulator
    with PipedriveClient(base_url=sim.base_url, api_token=sim.config.api_token) as client:
        pages = list(client.iter_cursor("/persons/collection", limit=50))
        assert len(pages) >= 3
        resumed = list(client.iter_cursor("/persons/collection", {"cursor": pages[0].next}, limit=50))
    assert [r["id"] for p in resumed for r in p.items] == [r["id"] for p in pages[1:] for r in p.items]
