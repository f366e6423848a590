"""Deterministic fault injection: a seeded schedule of the failures real Pipedrive traffic sees.

Spec grammar (comma-separated items, whitespace ignored)::

    spec   := item ("," item)*
    item   := KIND ":" PROB ["@" ARG]   # PROB in [0, 1]; the PROBs of all kinds sum to <= 1
            | "seed=" INT               # schedule seed (default 0)
            | "after=" INT              # let the first N eligible requests through untouched
            | "paths=" GLOB ("|" GLOB)*  # only requests whose path matches (fnmatch), e.g. /deals*
    KIND   := 500 | 502 | 503 | 504     # server error; body is a JSON error envelope or an HTML page
            | slow                      # answer normally after ARG seconds (default 2.0)
            | reset                     # send headers and part of the body, then drop the connection
            | truncate                  # status 200 with the JSON body cut short
            | html200                   # status 200 with an HTML error page instead of JSON
            | 429                       # 429 with retry-after; ARG = "SECONDS" or "SECONDSxCOUNT":
                                        # a storm of COUNT consecutive 429s (default 1x1)

Example: ``"500:0.05,502:0.02,503:0.02,504:0.02,slow:0.05@2.0,reset:0.03,truncate:0.03,html200:0.02,429:0.05@1x3,seed=7"``.

Globs match the path with or without its version prefix (`/deals*` and `/v1/deals*` both match
`/api/v1/deals/collection`). Only routed API requests that passed auth and rate limits are
eligible; they are numbered 0, 1, 2, ... and request number i draws its fault from a generator
seeded with (seed, i) — the same seed and the same request sequence give the same faults.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

KINDS = ("500", "502", "503", "504", "slow", "reset", "truncate", "html200", "429")
_DEFAULT_ARG = {"slow": 2.0, "429": 1.0}


@dataclass(frozen=True)
class Fault:
    """One injected failure for one request."""

    kind: str
    arg: float = 0.0  # delay (slow) or retry-after (429)
    html: bool = False  # 5xx: HTML page instead of a JSON envelope
    cut: float = 0.5  # reset/truncate: fraction of the body that is sent


@dataclass
class FaultSpec:
    """Parsed fault spec."""

    rates: list[tuple[str, float, float, int]] = field(default_factory=list)  # kind, prob, arg, storm
    seed: int = 0
    after: int = 0
    paths: tuple[str, ...] = ()
    text: str = ""

    @classmethod
    def parse(cls, text: str | None) -> FaultSpec:
        """Parse a spec string; raises ValueError naming the bad item."""
        spec = cls(text=(text or "").strip())
        total = 0.0
        for raw in spec.text.split(","):
            item = raw.strip()
            if not item:
                continue
            try:
                if item.startswith("seed="):
                    spec.seed = int(item[5:])
                elif item.startswith("after="):
                    spec.after = int(item[6:])
                elif item.startswith("paths="):
                    spec.paths = tuple(p.strip() for p in item[6:].split("|") if p.strip())
                else:
                    kind, _, rest = item.partition(":")
                    kind = kind.strip().lower()
                    if kind not in KINDS:
                        raise ValueError(f"unknown fault kind {kind!r} (known: {', '.join(KINDS)})")
                    prob_text, _, arg_text = rest.partition("@")
                    prob = float(prob_text)
                    if not 0.0 <= prob <= 1.0:
                        raise ValueError("probability must be within [0, 1]")
                    storm = 1
                    if kind == "429" and "x" in arg_text:
                        arg_text, _, storm_text = arg_text.partition("x")
                        storm = max(1, int(storm_text))
                    arg = float(arg_text) if arg_text else _DEFAULT_ARG.get(kind, 0.0)
                    if arg < 0:
                        raise ValueError("argument must not be negative")
                    spec.rates.append((kind, prob, arg, storm))
                    total += prob
            except ValueError as exc:
                raise ValueError(f"bad fault spec item {item!r}: {exc}") from None
        if total > 1.0 + 1e-9:
            raise ValueError(f"fault probabilities sum to {total:.3f} > 1")
        return spec

    def matches(self, path: str, subpath: str) -> bool:
        if not self.paths:
            return True
        return any(fnmatchcase(path, g) or fnmatchcase(subpath, g) for g in self.paths)


class FaultSchedule:
    """Hands out the fault (or None) for each eligible request, reproducibly."""

    def __init__(self, spec: str | None = None) -> None:
        self._lock = threading.Lock()
        self.set(spec)

    def set(self, spec: str | None) -> None:
        """Install a new spec (None/"" = no faults) and restart the request numbering."""
        parsed = FaultSpec.parse(spec)
        with self._lock:
            self.spec = parsed
            self._index = 0
            self._storm_left = 0
            self._storm_arg = 0.0

    @property
    def active(self) -> bool:
        return bool(self.spec.rates)

    def next(self, path: str, subpath: str) -> Fault | None:
        """Fault for the next request to `path` (full path) / `subpath` (without version prefix)."""
        spec = self.spec
        if not spec.rates or not spec.matches(path, subpath):
            return None
        with self._lock:
            index = self._index
            self._index += 1
            if index < spec.after:
                return None
            if self._storm_left > 0:
                self._storm_left -= 1
                return Fault("429", self._storm_arg)
            rng = random.Random(f"{spec.seed}:{index}")
            u = rng.random()
            acc = 0.0
            for kind, prob, arg, storm in spec.rates:
                acc += prob
                if u < acc:
                    if kind == "429" and storm > 1:
                        self._storm_left = storm - 1
                        self._storm_arg = arg
                    return Fault(kind, arg, html=rng.random() < 0.5, cut=0.1 + 0.8 * rng.random())
            return None
