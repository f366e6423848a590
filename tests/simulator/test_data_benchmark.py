"""sim-core benchmarks (``-m benchmark``, not in the default run): page build speed, start-up, server RSS.

Run: ``pytest tests/simulator/test_data_benchmark.py -m benchmark -s -q`` (prints the figures).
Timings are the best of several repetitions of this process's CPU time (``time.process_time``): the machine
is shared, and CPU time says what one free core does, independent of waiting for a core.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import orjson
import pytest

from pipedrive_source.simulator.store import Company

from .data_helpers import DirectApi

pytestmark = pytest.mark.benchmark
MILLION = 1_000_000


def _best(fn, reps: int = 7) -> float:
    best = float("inf")
    for r in range(reps):
        t = time.process_time()
        fn(r)
        best = min(best, time.process_time() - t)
    return best


def test_startup_and_page_build_at_a_million_deals() -> None:
    t = time.perf_counter()
    c = Company(1, MILLION)
    startup = time.perf_counter() - t
    st = c.stores["deals"]
    build = _best(lambda r: [st.get(i) for i in range(1 + r * 7919, 501 + r * 7919)])
    dumps = _best(lambda r: orjson.dumps({"success": True,
                                          "data": [st.get(i) for i in range(1 + r * 500, 501 + r * 500)],
                                          "additional_data": {"next_cursor": "x"}}))
    print(f"\nstartup {startup:.3f} s; build 500 deals {build * 1e3:.2f} ms ({1 / build:.0f} pages/s); "
          f"build+orjson {dumps * 1e3:.2f} ms ({1 / dumps:.0f} pages/s)")
    assert startup < 3.0
    assert build < 0.005


def test_handler_pages_per_second_at_a_million_deals() -> None:
    api = DirectApi(scale=MILLION)
    cursor = [None]

    def page(_: int) -> None:
        q = {"limit": 500}
        if cursor[0]:
            q["cursor"] = cursor[0]
        cursor[0] = api.get("/deals/collection", **q).body["additional_data"]["next_cursor"]

    per = _best(page, 20)
    print(f"\n/deals/collection handler + orjson: {per * 1e3:.2f} ms/page ({1 / per:.0f} pages/s)")
    for entity in ("persons", "organizations", "activities"):
        e = _best(lambda r, entity=entity: api.get(f"/{entity}/collection", limit=500), 5)
        print(f"/{entity}/collection: {e * 1e3:.2f} ms/page ({1 / e:.0f} pages/s)")
    assert per < 1 / 150


def test_server_rss_serving_a_million_deals() -> None:
    psutil = pytest.importorskip("psutil")
    import http.client

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    proc = subprocess.Popen([sys.executable, "-m", "pipedrive_source.simulator", "--port", str(port), "--scale",
                             str(MILLION), "--no-rate-limit", "--log-level", "warning"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ps = psutil.Process(proc.pid)
    peak = 0
    try:
        conn = None
        for _ in range(400):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                conn.request("GET", "/api/v1/users/me", headers={"x-api-token": "sim-admin-token"})
                conn.getresponse().read()
                break
            except OSError:
                time.sleep(0.05)
        assert conn is not None
        cursor, pages = None, 0
        cpu0, t0 = sum(ps.cpu_times()[:2]), time.perf_counter()
        while pages < 400:
            path = "/api/v1/deals/collection?limit=500" + (f"&cursor={cursor}" if cursor else "")
            conn.request("GET", path, headers={"x-api-token": "sim-admin-token"})
            cursor = orjson.loads(conn.getresponse().read())["additional_data"]["next_cursor"]
            pages += 1
            if pages % 50 == 0:
                peak = max(peak, ps.memory_info().rss)
        cpu, wall = sum(ps.cpu_times()[:2]) - cpu0, time.perf_counter() - t0
        conn.request("GET", "/api/v1/deals?limit=500&sort=update_time%20DESC",
                     headers={"x-api-token": "sim-admin-token"})
        conn.getresponse().read()
        peak = max(peak, ps.memory_info().rss)
        print(f"\nserver: {cpu / pages * 1e3:.2f} ms CPU per 500-deal page ({pages / cpu:.0f} pages/s per core), "
              f"wall {pages / wall:.0f} pages/s with the client on the same machine; peak RSS {peak >> 20} MB")
        assert peak < 500 << 20
    finally:
        proc.terminate()
        proc.wait(timeout=30)
