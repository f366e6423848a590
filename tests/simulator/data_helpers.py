"""Helpers for sim-core's data tests: call v1 handlers directly (no HTTP) like the server does."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from pipedrive_source.simulator.api_v1 import SimRequest, match_route
from pipedrive_source.simulator.clock import SimClock
from pipedrive_source.simulator.store import Company

FROZEN = "2026-11-23T10:00:00Z"


@dataclass
class Answer:
    status: int
    body: dict
    raw: bytes

    @property
    def data(self) -> Any:
        return self.body.get("data")


class DirectApi:
    """A Company plus the route table, called the way sim-server calls it."""

    def __init__(self, seed: int = 1, scale: str | int = "small", start: str = FROZEN) -> None:
        self.clock = SimClock(start)
        self.company = Company(seed, scale, self.clock)

    def call(self, method: str, path: str, query: dict | None = None, body: dict | None = None, *,
             user: int = 1, admin: bool = True) -> Answer:
        m = match_route(method, path)
        assert m is not None, f"no route for {method} {path}"
        route, params = m
        req = SimRequest(method, params, {k: str(v) for k, v in (query or {}).items()}, body, user, admin,
                         self.clock.now())
        resp = route.handler(self.company, req)
        raw = orjson.dumps(resp.body)
        return Answer(resp.status, resp.body, raw)

    def get(self, path: str, **query: Any) -> Answer:
        return self.call("GET", path, query)

    def all_offset(self, path: str, limit: int = 100, **query: Any) -> list[dict]:
        out: list[dict] = []
        start = 0
        while True:
            a = self.get(path, start=start, limit=limit, **query)
            assert a.status == 200, a.body
            out.extend(a.data or [])
            pag = a.body["additional_data"]["pagination"]
            if not pag["more_items_in_collection"]:
                return out
            start = pag["next_start"]

    def all_cursor(self, path: str, limit: int = 100, between_pages: Any = None, **query: Any) -> list[dict]:
        out: list[dict] = []
        cursor = None
        while True:
            q = dict(query, limit=limit)
            if cursor:
                q["cursor"] = cursor
            a = self.get(path, **q)
            assert a.status == 200, a.body
            out.extend(a.data or [])
            cursor = a.body["additional_data"]["next_cursor"]
            if cursor is None:
                return out
            if between_pages is not None:
                between_pages(len(out))
