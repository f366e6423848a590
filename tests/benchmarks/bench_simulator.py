"""Simulator benchmark (a script, not collected by pytest): start-up time, pages/s and peak RSS.

Starts `python -m pipedrive_source.simulator --no-rate-limit --scale N` in a subprocess and pages
through `/api/v1/deals/collection` (500 deals a page) from this process (and, with --workers > 1,
from that many client processes at once): "raw" clients only read the bytes (server-bound),
"httpx" clients parse every page with orjson as the connector does.

    python tests/benchmarks/bench_simulator.py --scale 1000000 --pages 300 --workers 1 2 --modes raw httpx

`server_cpu_ms_per_page` is the server's own CPU time per page: on a shared machine it says what
one free core would serve (1000 / ms pages/s) when wall-clock rates are depressed by other load.

Targets (CONTRACTS/brief): >= 150 pages/s, start-up < 3 s at any scale, peak RSS < 500 MB at 1,000,000 deals.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import orjson
import psutil

ROOT = Path(__file__).resolve().parents[2]
TOKEN = {"x-api-token": "sim-admin-token"}
_NEXT = re.compile(rb'"next_cursor":"([^"]+)"')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(scale: str, port: int, extra: list[str]) -> tuple[subprocess.Popen, float, float]:
    """Start the simulator; returns (process, seconds to 'URL printed', seconds to first answer)."""
    cmd = [sys.executable, "-m", "pipedrive_source.simulator", "--port", str(port), "--scale", scale, "--no-rate-limit",
           *extra]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    printed = None
    lines: list[str] = []

    def reader() -> None:
        nonlocal printed
        for line in proc.stdout:  # type: ignore[union-attr]
            lines.append(line)
            if printed is None and line.startswith("http://"):
                printed = time.perf_counter() - t0

    threading.Thread(target=reader, daemon=True).start()
    while True:
        if proc.poll() is not None:
            raise SystemExit("simulator died:\n" + "".join(lines))
        try:
            httpx.get(f"http://127.0.0.1:{port}/_sim/stats", timeout=1).raise_for_status()
            break
        except httpx.HTTPError:
            time.sleep(0.02)
        if time.perf_counter() - t0 > 60:
            proc.kill()
            raise SystemExit("simulator did not answer within 60 s")
    ready = time.perf_counter() - t0
    return proc, printed if printed is not None else ready, ready


def page_through(port: int, pages: int, mode: str = "httpx", out: mp.Queue | None = None) -> tuple[int, int, float]:
    """Follow /deals/collection cursors for `pages` pages from the start; returns (pages, deals, seconds).

    mode "httpx": httpx + orjson.loads of every page, as the connector does (client-bound on 2 cores:
    parsing 1.6 MB of JSON costs the client more than building it costs the server).
    mode "raw": http.client reading the bytes, cursor picked out by a regex: measures the server.
    Parallel workers page the same range: the server builds every page afresh (no response cache)."""
    path = "/api/v1/deals/collection?limit=500"
    cursor: str | None = None
    deals = 0
    if mode == "raw":
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

        def fetch(url: str) -> tuple[str | None, int]:
            conn.request("GET", url, headers=TOKEN)
            body = conn.getresponse().read()
            m = _NEXT.search(body, max(0, len(body) - 400))
            return (m.group(1).decode() if m else None), 0  # deals are counted in httpx mode
    else:
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=TOKEN, timeout=60)

        def fetch(url: str) -> tuple[str | None, int]:
            r = client.get(url)
            r.raise_for_status()
            body = orjson.loads(r.content)
            return (body.get("additional_data") or {}).get("next_cursor"), len(body["data"] or [])

    fetch(path.replace("500", "1"))  # warm the connection
    t = time.perf_counter()
    for _ in range(pages):
        cursor, n = fetch(path + (f"&cursor={cursor}" if cursor else ""))
        deals += n
    seconds = time.perf_counter() - t
    result = (pages, deals, seconds)
    if out is not None:
        out.put(result)
    return result


TOUCH = [  # first pages that make sim-core build its per-entity indexes (update_time, owner arrays)
    "/deals?sort=update_time%20DESC&limit=500", "/deals/collection?since=2025-01-01%2000:00:00&limit=500",
    "/deals/collection?status=deleted&limit=500", "/persons/collection?limit=500",
    "/organizations/collection?limit=500", "/activities/collection?limit=500", "/activities?limit=500",
    "/notes?sort=update_time%20DESC&limit=500", "/leads?limit=500", "/products?limit=500",
    "/persons?sort=update_time%20DESC&limit=500", "/organizations?limit=500&start=100000",
]


def touch_everything(port: int) -> float:
    """Hit one page of every big list so peak RSS includes every index the server may build."""
    t = time.perf_counter()
    with httpx.Client(base_url=f"http://127.0.0.1:{port}/api/v1", headers=TOKEN, timeout=120) as c:
        for path in TOUCH:
            r = c.get(path)
            if r.status_code != 200:
                print(f"  note: {path} -> {r.status_code}", file=sys.stderr)
    return round(time.perf_counter() - t, 2)


def peak_rss_mb(pid: int) -> float:
    """Peak resident set size (VmHWM) of a process in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return psutil.Process(pid).memory_info().rss / 2**20


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scale", default="1000000")
    p.add_argument("--pages", type=int, default=300, help="pages per measurement (per worker)")
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="client process counts to measure")
    p.add_argument("--modes", nargs="+", default=["raw", "httpx"], choices=["raw", "httpx"],
                   help="raw: server-bound (client reads bytes); httpx: httpx + orjson.loads per page")
    p.add_argument("--json", action="store_true", help="print one JSON line of results")
    args = p.parse_args(argv)

    port = free_port()
    proc, printed, ready = start_server(args.scale, port, [])
    results: dict = {"scale": args.scale, "startup_printed_s": round(printed, 3), "startup_ready_s": round(ready, 3)}
    try:
        server = psutil.Process(proc.pid)
        for mode in args.modes:
            for workers in args.workers:
                cpu0 = sum(server.cpu_times()[:2])
                if workers == 1:
                    pages, deals, seconds = page_through(port, args.pages, mode)
                    rate = pages / seconds
                else:
                    q: mp.Queue = mp.Queue()
                    procs = [mp.Process(target=page_through, args=(port, args.pages, mode, q)) for _ in range(workers)]
                    for pr in procs:
                        pr.start()
                    got = [q.get(timeout=600) for _ in procs]
                    for pr in procs:
                        pr.join()
                    pages = sum(g[0] for g in got)
                    deals = sum(g[1] for g in got)
                    rate = pages / max(g[2] for g in got)
                results[f"pages_per_s_{mode}_{workers}_client"] = round(rate, 1)
                # load-independent: server CPU per page (1000 / this = pages/s one free core can serve)
                cpu_ms = (sum(server.cpu_times()[:2]) - cpu0) * 1000 / max(pages, 1)
                results[f"server_cpu_ms_per_page_{mode}_{workers}_client"] = round(cpu_ms, 2)
                if mode == "httpx":
                    results[f"deals_per_page_{mode}_{workers}_client"] = round(deals / max(pages, 1), 1)
        results["peak_rss_mb_after_paging"] = round(peak_rss_mb(proc.pid), 1)
        touched = touch_everything(port)
        results["touch_seconds"] = touched
        results["peak_rss_mb"] = round(peak_rss_mb(proc.pid), 1)
        stats = httpx.get(f"http://127.0.0.1:{port}/_sim/stats").json()
        results["requests_served"] = sum(stats["requests"].values())
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
    if args.json:
        print(json.dumps(results))
    else:
        for k, v in results.items():
            print(f"{k:28s} {v}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
