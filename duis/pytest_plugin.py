"""pytest plugin: golden-file checks of duis scenarios in your own test suite.

Installed with duis (entry point ``pytest11``).  In a test::

    def test_my_adaptor_story(duis_golden):
        duis_golden.check("scenarios/my-story.toml")            # every profile it declares
        duis_golden.check("scenarios/my-story.toml", profile="baseline")

fails with a unified diff when a produced file differs from its golden (or an
expectation of the scenario is not met); ``pytest --update-goldens`` rewrites
the goldens instead.  Goldens live in ``<scenario folder>/golden/`` unless a
``golden_dir`` is given.  Relative paths are taken from the test file's folder.
Loading the plugin imports nothing of duis but this module: runs that never
use the fixture pay nothing for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # the scenario machinery is imported when a test first uses it
    from .scenario.golden import GoldenResult


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("duis")
    group.addoption("--update-goldens", action="store_true", default=False,
                    help="rewrite duis scenario goldens instead of comparing with them")


class GoldenChecker:
    """What the ``duis_golden`` fixture gives a test.

    A relative scenario or golden path is taken from the folder of the test
    file that uses the fixture (``base``), wherever pytest is run from.
    """

    def __init__(self, update: bool, base: Path | None = None) -> None:
        self.update = update
        self.base = base

    def _path(self, path: str | Path) -> Path:
        path = Path(path)
        return path if path.is_absolute() or self.base is None else self.base / path

    def check(self, scenario: str | Path, *, profile: str | None = None,
              golden_dir: str | Path | None = None) -> list[GoldenResult]:
        from .errors import DuisError
        from .profiles import profiles
        from .scenario import read_scenario
        from .scenario.golden import check_scenario, update_scenario
        if not isinstance(scenario, (str, Path)) or \
                not isinstance(golden_dir, (str, Path, type(None))):
            pytest.fail(f"duis_golden.check(scenario, golden_dir=...): a path each, found "
                        f"{type(scenario).__name__}, {type(golden_dir).__name__}",
                        pytrace=False)
        if profile is not None and (not isinstance(profile, str) or profile not in profiles()):
            pytest.fail(f"duis_golden.check(profile=...): one of {', '.join(profiles())}, "
                        f"found {profile!r}", pytrace=False)
        try:  # the scenario's own problems, named by file and line, not a traceback
            parsed = read_scenario(self._path(scenario))
        except DuisError as exc:
            problems = getattr(exc, "errors", None) or [exc]
            pytest.fail("\n".join(str(p) for p in problems), pytrace=False)
        root = self._path(golden_dir) if golden_dir is not None else None
        if root is not None and not self.update and not root.is_dir():
            pytest.fail(f"no golden folder {root} (golden_dir=...); run pytest "
                        f"--update-goldens to write it", pytrace=False)
        chosen = [profile] if profile else list(parsed.profiles)
        if self.update:
            refused = [u for u in (update_scenario(parsed, name, root) for name in chosen)
                       if u.status == "refused"]
            if refused:
                pytest.fail("\n\n".join(u.report() for u in refused), pytrace=False)
            return []
        results = [check_scenario(parsed, name, root) for name in chosen]
        failed = [r for r in results if not r.passed]
        if failed:
            hint = ("" if any(r.expectations_failed for r in failed) else
                    "\n\n(run pytest --update-goldens to accept the new transcripts)")
            pytest.fail("\n\n".join(r.report() for r in failed) + hint, pytrace=False)
        return results


@pytest.fixture
def duis_golden(request: pytest.FixtureRequest) -> GoldenChecker:
    """Run a scenario and compare its transcript with the stored goldens."""
    return GoldenChecker(request.config.getoption("--update-goldens"), request.path.parent)
