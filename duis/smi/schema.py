"""The SMI's SQLite database: its tables, opening a file, and tables kept beside them.

The tables are ``device``, ``dcc_user``, ``cpl`` and ``audit``, with
``smi_meta`` holding the schema version; :data:`SCHEMA_VERSION` changes when a
file written before could not be read.  Other modules keep their own tables in
the same database (the MP102B Suppression Log, the SECMP0024 schedule): they
create them with :func:`create_tables` on :meth:`Inventory.connection`.
"""

from __future__ import annotations

import re
import sqlite3

from .errors import SmiError

SCHEMA_VERSION = "1"

# The model index leaves the firmware version out: every firmware report would
# otherwise move the device's index entry (half the cost of its UPDATE); a CPL
# removal reads the model's rows and checks their version.  Files written before
# lose the older (manufacturer, model, firmware_version) index on opening.
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS smi_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS device (
    eui TEXT PRIMARY KEY, device_type TEXT NOT NULL, manufacturer TEXT NOT NULL,
    model TEXT NOT NULL, smets TEXT NOT NULL, status TEXT NOT NULL,
    status_before_suspension TEXT, firmware_version TEXT NOT NULL,
    hub TEXT, supplier TEXT, network_operator TEXT, mpxn TEXT
) WITHOUT ROWID;
DROP INDEX IF EXISTS device_by_firmware;
CREATE INDEX IF NOT EXISTS device_by_model ON device (manufacturer, model);
CREATE INDEX IF NOT EXISTS device_by_hub ON device (hub);
CREATE TABLE IF NOT EXISTS dcc_user (
    eui TEXT PRIMARY KEY, name TEXT NOT NULL, roles TEXT NOT NULL, status TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS cpl (
    manufacturer TEXT NOT NULL, model TEXT NOT NULL, firmware_version TEXT NOT NULL,
    firmware_hash TEXT, smets TEXT NOT NULL, status TEXT NOT NULL,
    PRIMARY KEY (manufacturer, model, firmware_version, smets)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY, at TEXT NOT NULL, entity TEXT NOT NULL, key TEXT NOT NULL,
    field TEXT NOT NULL, old TEXT, new TEXT, reason TEXT NOT NULL, cause TEXT NOT NULL
);
INSERT OR IGNORE INTO smi_meta VALUES ('schema', '{SCHEMA_VERSION}');
"""


def read_meta(db: sqlite3.Connection, key: str) -> str | None:
    """The value ``smi_meta`` holds under ``key`` (None when it holds none)."""
    row = db.execute("SELECT value FROM smi_meta WHERE key = ?", (key,)).fetchone()
    return row[0] if row else None


def write_meta(db: sqlite3.Connection, key: str, value: str) -> None:
    """Set ``smi_meta``'s ``key`` (in the caller's transaction, if one is open)."""
    db.execute("INSERT OR REPLACE INTO smi_meta VALUES (?, ?)", (key, value))


#: the tables and indexes ``_SCHEMA`` creates, and the older indexes it drops: a file
#: holding just those needs no write to be opened
_TABLES = frozenset(re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", _SCHEMA))
_INDEXES = frozenset(re.findall(r"CREATE (?:UNIQUE )?INDEX IF NOT EXISTS (\w+)", _SCHEMA))
_DROPPED = frozenset(re.findall(r"DROP INDEX IF EXISTS (\w+)", _SCHEMA))


def connect(path: str, *, temp_in_memory: bool = False) -> sqlite3.Connection:
    """A connection to the SMI database at ``path`` (a file, created if absent, or
    ``":memory:"``), its tables created; in autocommit mode (transactions are
    explicit, see :mod:`duis.smi.transactions`).

    Raises :class:`SmiError` for a file that is not an SMI database or has another
    schema version.  ``temp_in_memory`` keeps SQLite's temporary tables and
    journals in memory rather than in files.
    """
    try:
        db = sqlite3.connect(path, isolation_level=None)
    except sqlite3.Error as exc:  # a folder, a path under a file, no permission
        raise SmiError("cannot open the SMI database", source=path,
                       expected="an SQLite file written by duis.smi, or a path to create one",
                       found=str(exc)) from None
    try:
        # before anything is written: another application's database is left as it is
        names = db.execute("SELECT type, name FROM sqlite_master ORDER BY name").fetchall()
        tables = [name for kind, name in names if kind == "table"]
        indexes = {name for kind, name in names if kind == "index"}
        if tables and "smi_meta" not in tables:
            db.close()
            raise SmiError("not an SMI database", source=path,
                           expected="an SQLite file written by duis.smi (a table smi_meta)",
                           found="tables " + ", ".join(tables[:5])
                                 + (f" and {len(tables) - 5} more" if len(tables) > 5 else ""))
        if path != ":memory:" and not path.startswith("file::memory:"):
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            db.execute("PRAGMA cache_size = -65536")  # 64 MiB
        if not (_TABLES <= set(tables) and _INDEXES <= indexes and not _DROPPED & indexes):
            # write lock first: no upgrade deadlock (an SMI with every table is only read:
            # a command that reads does not wait for a writer's lock)
            db.executescript(f"BEGIN IMMEDIATE; {_SCHEMA} COMMIT;")
        version = db.execute("SELECT value FROM smi_meta WHERE key = 'schema'").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        db.close()
        if "locked" in str(exc) or "busy" in str(exc):
            raise SmiError("the SMI file is locked by another process", source=path,
                           expected="its lock released within 5 s (a duis command or "
                                    "server writing it, a backup)", found=str(exc)) from None
        raise SmiError("not an SMI database", source=path,
                       expected="an SQLite file written by duis.smi", found=str(exc)) from None
    if version != SCHEMA_VERSION:
        db.close()
        raise SmiError("SMI database has another schema version", source=path,
                       expected=SCHEMA_VERSION, found=version)
    # Statement journals and this table go to temporary files, not memory:
    # a 100,000-device removal would otherwise hold ~170 MB of journal.
    if temp_in_memory:
        db.execute("PRAGMA temp_store = MEMORY")
    db.execute("CREATE TEMP TABLE smi_suspend (eui TEXT PRIMARY KEY, status TEXT NOT NULL) "
               "WITHOUT ROWID")
    return db


def create_tables(db: sqlite3.Connection, script: str) -> None:
    """Run ``CREATE ... IF NOT EXISTS`` statements one by one, inside whatever
    transaction is open (``executescript`` would commit it first).  ``script``
    holds statements separated by ``;`` and no ``;`` inside one."""
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)
