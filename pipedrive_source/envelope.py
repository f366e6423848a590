"""A response body -> the Pipedrive JSON envelope, or a description of why it is not one.

Shared by the client and the parse workers (``parse_worker``), so a body is judged the same wherever
it is decoded: a garbage description makes the client retry the call.
"""

from __future__ import annotations

import orjson

PREPARED_KEY = "_prepared"  # envelope key under which a parse worker's decoder hands over the transformed page


def decode_body(content: bytes) -> tuple[dict | None, str | None]:
    """(envelope, None) or (None, description of the garbage) for a non-empty, non-HTML body."""
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError:
        return None, f"a body that is not valid JSON ({len(content)} bytes, truncated?)"
    if not isinstance(body, dict):
        return None, f"a JSON {type(body).__name__} instead of an object"
    body.pop(PREPARED_KEY, None)  # only a parse worker's answer may carry it, never an API body
    return body, None
