"""The Smart Metering Inventory (SMI) and the Central Products List (CPL).

``Inventory`` is the interface the DSP uses; ``SqliteInventory`` implements it
on the standard library's SQLite.  ``load_world`` seeds one from a world file.
"""

from .errors import AmbiguousCplEntry, DuplicateKey, InvalidRecord, NotFound, SmiError, WorldError
from .faults import FailOnWrite, InjectedFault
from .model import AuditRecord, CplEntry, Device, User
from .repository import Inventory, SqliteInventory
from .world import World, default_world, load_world, open_smi, read_world

__all__ = [
    "AmbiguousCplEntry", "AuditRecord", "CplEntry", "Device", "DuplicateKey", "FailOnWrite",
    "InjectedFault", "InvalidRecord", "Inventory", "NotFound", "SmiError", "SqliteInventory",
    "User", "World", "WorldError", "default_world", "load_world", "open_smi", "read_world",
]
