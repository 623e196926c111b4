"""``benchmarks/compare.py``: an earlier revision's figures beside today's, the
ratios from pairs of runs taking turns (the machine's speed drifts)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def compare():
    spec = importlib.util.spec_from_file_location("bench_compare", BENCHMARKS / "compare.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_one_pair_gives_each_figure_its_ratio(compare):
    before = ["== x", "sign 100.0 us, verify 200 us", "goal 2x [NOT met]", "only before"]
    now = ["== x", "sign 50.0 us, verify 300 us", "goal 2x [met]"]
    assert compare.side_by_side(before, now) == [
        "== x",
        "sign 50.0 us, verify 300 us    [now/before: 0.50x 1.50x]",
        "before: goal 2x [NOT met]", "before: only before", "now:    goal 2x [met]",
    ]


def test_figures_aligned_to_the_right_keep_their_line_whole(compare):
    before = ["  sign (store lookup)      99.4 us", "  raw pair, then       89.3 us"]
    now = ["  sign (store lookup)     102.6 us", "  raw pair, then      107.3 us"]
    assert compare.side_by_side(before, now) == [
        "  sign (store lookup)     102.6 us    [now/before: 1.03x]",
        "  raw pair, then      107.3 us    [now/before: 1.20x]"]


def test_a_line_on_one_side_only_shifts_nothing_else(compare):
    before = ["a 10 us", "c 30 us", "d 40 us"]
    now = ["a 10 us", "b (new) 5 us", "c 15 us", "d 80 us"]
    assert compare.side_by_side(before, now) == [
        "a 10 us    [now/before: 1.00x]", "now:    b (new) 5 us",
        "c 15 us    [now/before: 0.50x]", "d 80 us    [now/before: 2.00x]"]


def test_pairs_give_the_median_ratio_with_the_lowest_and_highest(compare):
    pairs = [(["a 100 us, 0 errors"], ["a 90 us, 0 errors"]),
             (["a 100 us, 0 errors"], ["a 130 us, 0 errors"]),
             (["a 100 us, 0 errors"], ["x", "a 95 us, 0 errors"])]
    # the first run's line; 0 before gives no ratio ("-"); the third pair's extra
    # line shifts nothing
    assert compare.compared(pairs) == [
        "a 90 us, 0 errors    [now/before, median of 3 pairs: 0.95x (0.90-1.30) -]"]


def test_a_pair_whose_words_differ_is_left_out_and_counted(compare):
    pairs = [(["p99 40 ms [met]"], ["p99 45 ms [met]"]),
             (["p99 40 ms [met]"], ["p99 55 ms [NOT met]"]),
             (["p99 60 ms [NOT met]"], ["p99 30 ms [met]"])]
    assert compare.compared(pairs) == [
        "p99 45 ms [met]    [now/before, median of 1 pair of 3 (the words differ in the "
        "others): 1.12x]"]
    # words that differ in the first pair: its two lines
    assert compare.compared([(["x 1 [met]"], ["x 2 [NOT met]"]),
                             (["x 1 [met]"], ["x 2 [met]"])]) == [
        "before: x 1 [met]", "now:    x 2 [NOT met]"]


@pytest.mark.parametrize("pairs", ["0", "-1", "two", "2.5"])
def test_a_bad_pairs_count_is_refused_before_any_run(pairs):
    done = subprocess.run([sys.executable, str(BENCHMARKS / "compare.py"), "HEAD",
                           "--pairs", pairs], capture_output=True, text=True)
    assert done.returncode == 2
    assert "--pairs" in done.stderr and "1 or more" in done.stderr
    assert not done.stdout


def test_no_revision_prints_the_usage_and_exits_2():
    done = subprocess.run([sys.executable, str(BENCHMARKS / "compare.py"), "--pairs", "2"],
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert "usage: compare.py [-h] [--pairs N] BASE" in done.stderr


def test_an_unknown_revision_or_module_is_refused_without_a_traceback():
    """Both before any checkout is made (the revision's modules read from git)."""
    done = subprocess.run([sys.executable, str(BENCHMARKS / "compare.py"), "no-such-rev-0"],
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert "no revision 'no-such-rev-0'" in done.stderr and "Traceback" not in done.stderr
    done = subprocess.run([sys.executable, str(BENCHMARKS / "compare.py"), "HEAD", "nosuch"],
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert "no benchmark nosuch" in done.stderr and "signatures" in done.stderr


def test_options_and_names_may_come_in_any_order():
    """As make bench-compare writes them: BASE, --pairs N, then the modules."""
    for args in (["no-such-rev-0", "--pairs", "2", "schema"],
                 ["--pairs", "2", "no-such-rev-0", "schema", "signatures"]):
        done = subprocess.run([sys.executable, str(BENCHMARKS / "compare.py"), *args],
                              capture_output=True, text=True)
        assert done.returncode == 2
        assert "no revision 'no-such-rev-0'" in done.stderr, done.stderr
