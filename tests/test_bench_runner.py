"""``make bench`` runs every benchmark module in one process (benchmarks/run.py):
a module that uses another must find the other whole."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def test_a_module_run_by_make_bench_finds_another_it_uses(monkeypatch):
    """bench_serve_hostile runs bench_serve's server and its signed requests; it
    used to find a stand-in bench_serve had left in sys.modules, and make bench
    stopped there with an AttributeError."""
    for name in ("bench_serve", "bench_serve_hostile"):  # the loads are undone after
        monkeypatch.setitem(sys.modules, name, None)
    spec = importlib.util.spec_from_file_location("bench_runner", BENCHMARKS / "run.py")
    runner = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(runner)
    serve = runner.load(BENCHMARKS / "bench_serve.py")
    hostile = runner.load(BENCHMARKS / "bench_serve_hostile.py")
    assert sys.modules["bench_serve"] is serve
    assert hostile._bench_serve() is serve
    assert len(serve.signed_requests(3)) == 3
