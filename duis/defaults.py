"""The defaults every front end shares (``duis`` commands, ``duis serve``, scenario
rigs, tests): the world an SMI is seeded from, the credential store.

They live here, in the library, so that the commands import them from the
library and nothing in the library imports a command.
"""

from __future__ import annotations

from .signatures.credentials import default_store_directory
from .smi.world import default_world

__all__ = ["default_store_directory", "default_world"]
