"""Shared fixtures.

Tests that read ``../shared/reference`` are marked ``reference`` and skip,
with the reason, when that folder is absent: the core suite stands alone.

A module that needs another value under one of these names (a store of other
credentials, a server with another configuration) defines its own fixture of
that name, which wins inside that module.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT.parent / "shared" / "reference"
SAMPLES = ROOT / "samples"
PKI = SAMPLES / "pki"


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"reference data not available: {path} is absent "
                    f"(clone with ../shared beside the repo to run this test)")
    return path


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    return _need(REFERENCE)


@pytest.fixture(scope="session")
def official_schema_dir(reference_dir: Path) -> Path:
    return _need(reference_dir / "duis-schema-5.4")


@pytest.fixture(scope="session")
def corpus_dir(reference_dir: Path) -> Path:
    return _need(reference_dir / "corpus")


@pytest.fixture(scope="session")
def official_schema(official_schema_dir: Path):
    from duis.schema import load_schema
    return load_schema(official_schema_dir)


@pytest.fixture(scope="session")
def bundled_schema():
    from duis.schema import load_schema
    return load_schema()


@pytest.fixture(scope="session")
def schema(bundled_schema):
    """The bundled schema, under the name the DSP tests give it."""
    return bundled_schema


@pytest.fixture(scope="session")
def store():
    """The test PKI (``samples/pki``), loaded once: a store does not change once loaded."""
    from duis.signatures import CredentialStore
    return CredentialStore(PKI)


@pytest.fixture()
def serve_log():
    """What ``duis serve`` logs in this process during the test, at INFO and above,
    as its JSON lines (:class:`tests.serve_helpers.LogLines`)."""
    from tests.serve_helpers import LogLines
    with LogLines() as log:
        yield log


@pytest.fixture(scope="module")
def server():
    """``duis serve`` with the default configuration on a thread of this process, one
    per module (its state is the module's own)."""
    from duis.serve import ServeConfig, ServerThread
    with ServerThread(ServeConfig(port=0)) as running:
        yield running
