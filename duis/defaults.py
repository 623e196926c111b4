"""The defaults every front end shares (``duis`` commands, ``duis serve``, scenario
rigs, tests): the world an SMI is seeded from, the credential store.

They live here, in the library, so that the commands import them from the
library and nothing in the library imports a command.
"""

from __future__ import annotations

from pathlib import Path

from .signatures.credentials import default_store_directory

_PACKAGE = Path(__file__).resolve().parent


def default_world() -> Path:
    """The default world: ``duis/worlds`` in a wheel, ``samples/worlds`` in a checkout."""
    installed = _PACKAGE / "worlds" / "default.toml"
    return installed if installed.is_file() else _PACKAGE.parent / "samples/worlds/default.toml"


__all__ = ["default_store_directory", "default_world"]
