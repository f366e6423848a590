"""A faithful, deterministic Pipedrive API simulator (demo backend and test double).

Public API: `SimulatorConfig`, `run_simulator()` (context manager, background thread),
`Simulator` (the running handle), `SimClock`, and `main()` for `python -m pipedrive_source.simulator`.
The sync code never imports this package; only the CLI's `demo`/`simulate` and the tests do.
"""

from .clock import SimClock
from .config import SimulatorConfig
from .server import Simulator, run_simulator


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (see `__main__.py`)."""
    from .__main__ import main as _main

    return _main(argv)


__all__ = ["SimClock", "Simulator", "SimulatorConfig", "main", "run_simulator"]
