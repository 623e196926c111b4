"""Any scenario file is read or refused with a ScenarioError, and one that is read
runs or fails with a DuisError: never another exception (a traceback).

Each example takes a shipped scenario, or the world or settings file it names, and
gives one of its fields a value of any TOML type (tables, arrays, ``inf``, ``nan``,
dates, long text): the class of input that once raised TypeError, IndexError,
OverflowError and ValueError from deep inside the run (tests/test_scenario_format.py
keeps those cases one by one).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import shutil
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from duis.errors import DuisError
from duis.scenario import read_scenario, run_scenario
from duis.signatures import CredentialStore

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
SCENARIOS = sorted((SAMPLES / "scenarios").glob("*.toml"))
STORE = CredentialStore(SAMPLES / "pki")
#: a ``key = value`` line: the key and its value's text
FIELD = re.compile(r"^(\s*[A-Za-z_][\w.-]*\s*=\s*)(.*)$", re.MULTILINE)


def toml(value: object) -> str:
    """``value`` written as TOML (json's string escapes are TOML's)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") \
            if math.isinf(value) else repr(value)
    if isinstance(value, (int, dt.datetime, dt.date)):
        return value.isoformat() if not isinstance(value, int) else str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml(v) for v in value) + "]"
    assert isinstance(value, dict)
    return "{ " + ", ".join(f"{k} = {toml(v)}" for k, v in value.items()) + " }"


scalars = st.one_of(
    st.integers(min_value=-2**63, max_value=2**63 - 1), st.floats(), st.booleans(),
    st.text(max_size=40), st.sampled_from(["", "11.2", "SMETS1", "Current", "I99", "<A/>",
                                           "00-DB-12-34-56-78-90-A0", "../x", "x" * 300]),
    st.datetimes(timezones=st.just(dt.UTC)), st.dates())
values = st.one_of(scalars, st.lists(scalars, max_size=3),
                   st.dictionaries(st.sampled_from(["a", "baseline", "default", "code"]),
                                   scalars, max_size=2))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(st.sampled_from(SCENARIOS), st.sampled_from(["scenario", "world", "settings"]),
       st.integers(min_value=0), values)
def test_any_field_value_is_read_or_refused(tmp_path_factory, scenario, which, pick, value):
    folder = tmp_path_factory.mktemp("scenario")
    shutil.copytree(SAMPLES / "worlds", folder / "worlds")
    shutil.copytree(SAMPLES / "settings", folder / "settings")
    (folder / "scenarios").mkdir()
    text = scenario.read_text("utf-8")
    target = {"scenario": folder / "scenarios" / scenario.name}
    if which != "scenario" and (named := re.search(rf'^{which} = "\.\./{which}s/([^"]+)"', text,
                                                   re.MULTILINE)):
        target[which] = folder / f"{which}s" / named.group(1)
    path = target.get(which, target["scenario"])
    original = path.read_text("utf-8") if path.exists() else text
    fields = list(FIELD.finditer(original))
    field = fields[pick % len(fields)]
    path.write_text(original[:field.start(2)] + toml(value) + original[field.end(2):], "utf-8")
    if path != target["scenario"]:
        target["scenario"].write_text(text, "utf-8")
    try:
        read = read_scenario(target["scenario"])
        run_scenario(read, read.profiles[0], store=STORE)
    except DuisError:
        pass  # refused, naming what: the other outcome allowed
