"""`python -m pipedrive_source.simulator`: option parsing and a real foreground server in a subprocess."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import datetime, timezone

import httpx
import pytest

from pipedrive_source.simulator.__main__ import build_parser, config_from_args


def parse(*argv: str):
    return config_from_args(build_parser().parse_args(list(argv)))


def test_options_map_to_config():
    cfg = parse(
        "--seed", "7", "--scale", "1_000_000", "--plan", "essential", "--no-rate-limit", "--faults", "500:0.1",
        "--api-token", "A", "--user-token", "U", "--oauth-client", "id:sec:ret", "--access-token-ttl", "30",
        "--daily-budget", "999", "--v1-removed", "--frozen-clock", "2026-07-01T00:00:00Z",
    )
    assert (cfg.seed, cfg.scale, cfg.plan, cfg.rate_limit, cfg.faults) == (7, 1_000_000, "essential", False, "500:0.1")
    assert (cfg.api_token, cfg.user_token, cfg.oauth_client) == ("A", "U", ("id", "sec:ret"))
    assert (cfg.access_token_ttl, cfg.daily_budget, cfg.v1_removed) == (30.0, 999, True)
    assert cfg.start_time == datetime(2026, 7, 1, tzinfo=timezone.utc)
    defaults = parse()
    assert (defaults.scale, defaults.plan, defaults.rate_limit, defaults.api_token) == (
        "small", "professional", True, "sim-admin-token")


@pytest.mark.parametrize("argv", [["--scale", "huge"], ["--oauth-client", "nosecret"], ["--faults", "boom:1"],
                                  ["--plan", "free"]])
def test_bad_options_exit_with_usage_error(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        from pipedrive_source.simulator.__main__ import main

        main(argv)
    assert exc.value.code == 2
    assert "error" in capsys.readouterr().err


def test_module_serves_in_foreground_and_prints_base_url():
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipedrive_source.simulator", "--port", "0", "--scale", "small",
         "--frozen-clock", "2026-07-01T00:00:00Z"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        t = time.monotonic()
        line = ""
        while not line.startswith("http://"):
            line = proc.stdout.readline()  # type: ignore[union-attr]
            assert line or proc.poll() is None, "simulator exited early"
        assert time.monotonic() - t < 10
        base_url = line.strip()
        assert base_url.endswith("/api/v1")
        root = base_url[: -len("/api/v1")]
        assert httpx.get(f"{root}/_sim/clock", timeout=10).json() == {"now": "2026-07-01T00:00:00Z", "frozen": True}
    finally:
        proc.terminate()
        proc.wait(10)
