"""v1 routing contract between sim-core and sim-server: SimRequest/SimResponse/Route,
``match_route`` and the Pipedrive error envelope.

The handlers live in ``v1_read`` (GET) and ``v1_write`` (POST/PUT/PATCH/DELETE); this
module only assembles the route table and guarantees that a handler never leaks an
exception: bad parameters become a 400 envelope, unknown ids a 404 envelope, anything
unexpected a 500 envelope (never a traceback in the body).

Paging semantics served by the handlers (summary; details in ``v1_query``):
- offset lists: ``start``/``limit`` (default 100, max 500; /callLogs 50, /files 100),
  ``sort`` like ``update_time DESC, id ASC``, ``additional_data.pagination``,
  ``data: null`` when the page is empty;
- ``/collection``: opaque cursor (base64 of the last id returned), ``limit`` <= 500,
  ``since``/``until`` on update_time, both inclusive; records are returned in
  **id-ascending order** so that paging stays consistent while records change: a record
  is returned with its current state when its id is reached, and whether it belongs to
  the window is judged by its current update_time. ``next_cursor`` is null at the end.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from .store import Company

log = logging.getLogger(__name__)


@dataclass
class SimRequest:
    method: str
    path_params: dict[str, str]
    query: dict[str, str]  # last value wins for repeated keys
    body: dict | None  # parsed JSON or form body
    user_id: int
    is_admin: bool
    now: datetime


@dataclass
class SimResponse:
    status: int
    body: dict  # full envelope


@dataclass(frozen=True)
class Route:
    method: str
    template: str  # without version prefix, e.g. "/deals/{id}/products"
    handler: Callable[["Company", SimRequest], SimResponse]
    is_search: bool = False


class ApiError(Exception):
    """Raised inside handlers; turned into an error envelope by the route wrapper."""

    def __init__(self, status: int, message: str, info: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.info = info


_DEFAULT_INFO = {
    400: "Please check developers.pipedrive.com for more information about Pipedrive API.",
    403: "Please check developers.pipedrive.com for more information about Pipedrive API.",
    404: "Please check developers.pipedrive.com for more information about Pipedrive API.",
    500: "Please contact Pipedrive support.",
}


def error(status: int, message: str, info: str = "") -> SimResponse:
    """Pipedrive error envelope."""
    return SimResponse(status, {"success": False, "error": message, "errorCode": status,
                                "error_info": info or _DEFAULT_INFO.get(status, ""),
                                "data": None, "additional_data": None})


def ok(data: Any, additional_data: Any = None, related_objects: Any = None, *, status: int = 200) -> SimResponse:
    body: dict[str, Any] = {"success": True, "data": data}
    if additional_data is not None:
        body["additional_data"] = additional_data
    if related_objects is not None:
        body["related_objects"] = related_objects
    return SimResponse(status, body)


def _guard(fn: Callable[["Company", SimRequest], SimResponse]) -> Callable[["Company", SimRequest], SimResponse]:
    def handler(c: "Company", req: SimRequest) -> SimResponse:
        try:
            with c.lock:
                return fn(c, req)
        except ApiError as e:
            return error(e.status, e.message, e.info)
        except Exception:  # a bug must still answer with an envelope, not a traceback
            log.exception("simulator handler %s failed", getattr(fn, "__name__", fn))
            return error(500, "Internal server error")
    handler.__name__ = getattr(fn, "__name__", "handler")
    handler.__doc__ = fn.__doc__
    return handler


# ------------------------------------------------------------------------- route table
_ROUTES: list[Route] = []
_BY_SHAPE: dict[tuple[str, int], list[tuple[tuple[str | None, ...], tuple[str, ...], Route]]] = {}


def _register(method: str, template: str, fn: Callable, is_search: bool = False) -> None:
    route = Route(method, template, _guard(fn), is_search)
    _ROUTES.append(route)
    segs = template.strip("/").split("/")
    pattern = tuple(None if s.startswith("{") else s for s in segs)
    names = tuple(s[1:-1] for s in segs if s.startswith("{"))
    _BY_SHAPE.setdefault((method, len(segs)), []).append((pattern, names, route))


def routes() -> list[Route]:
    _ensure_routes()
    return list(_ROUTES)


def match_route(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    """Route + path params for a path without the /v1 or /api/v1 prefix; None if unknown."""
    _ensure_routes()
    return match_in(_BY_SHAPE, method, path)


def match_in(by_shape: dict[tuple[str, int], list[tuple[Any, Any, Route]]], method: str,
             path: str) -> tuple[Route, dict[str, str]] | None:
    """The best route of a (method, segment count) index: literal segments beat placeholders
    (``/deals/archived`` is not ``/deals/{id}``). Shared by the v1 and v2 route tables."""
    segs = path.split("?", 1)[0].strip("/").split("/")
    best = None
    best_score = -1
    for pattern, names, route in by_shape.get((method.upper(), len(segs)), ()):
        score = 0
        for p, s in zip(pattern, segs, strict=True):
            if p is None:
                if not s:
                    break
            elif p != s:
                break
            else:
                score += 1
        else:
            if score > best_score:
                best, best_score = (pattern, names, route), score
    if best is None:
        return None
    pattern, names, route = best
    values = [s for p, s in zip(pattern, segs, strict=True) if p is None]
    return route, dict(zip(names, values, strict=True))


_loaded = False


def _ensure_routes() -> None:
    global _loaded
    if _loaded:
        return
    from . import v1_read, v1_read_extra, v1_write
    for method, template, fn, is_search in v1_read.ROUTES + v1_read_extra.ROUTES + v1_write.ROUTES:
        _register(method, template, fn, is_search)
    _loaded = True


__all__ = ["SimRequest", "SimResponse", "Route", "ApiError", "error", "ok", "match_route", "routes"]
