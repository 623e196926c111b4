"""Files and folders duis writes: whole or not at all, or refused by name.

A file is written beside its target and renamed over it; a folder is filled
beside its target and swapped in.  A path that cannot take it (a folder where
a file goes, a file or a symbolic link in the way of a folder, a path under a
file, no permission) is an :class:`~duis.errors.InputError` naming it, what
was expected and what was found, never an ``OSError``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

from .errors import InputError


def write_file(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` atomically (a temporary file beside it, synced,
    then renamed over it)."""
    if not target.name or target.is_dir():
        raise InputError("cannot write the output file", source=str(target) or "''",
                         expected="a file path", found="a folder" if target.is_dir()
                         else "no file name")
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with _refused(target, "cannot write the output file",
                  "a file in a folder that exists and may be written", tmp):
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)


def make_folder(path: str | os.PathLike) -> Path:
    """``path`` as a folder, made with its parents if absent."""
    folder = Path(path)
    with _refused(folder, "cannot make the folder", "a folder, or a path where one may be made"):
        folder.mkdir(parents=True, exist_ok=True)
    return folder


def write_folder(target: Path, files: list[tuple[str, bytes]]) -> Path:
    """Replace ``target`` by a folder holding ``files``, atomically (rename): every
    other file that was in it is gone.  Refused (:class:`~duis.errors.InputError`,
    nothing changed) where ``target`` is a file or a symbolic link, or a folder
    that cannot be written."""
    if not target.name or target.is_symlink() or (target.exists() and not target.is_dir()):
        raise InputError("cannot write the folder", source=str(target),
                         expected="a folder (replaced whole) or nothing at that path",
                         found="a symbolic link" if target.is_symlink() else "a file"
                         if target.exists() and target.name else "no folder name")
    # a name of its own beside the target (mkdtemp's would be private: mode 0700)
    staging = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}")
    with _refused(target, "cannot write the folder", "a folder that may be written", staging):
        target.parent.mkdir(parents=True, exist_ok=True)
        staging.mkdir()
        for name, data in files:
            (staging / name).write_bytes(data)
        if target.exists():
            old = staging.with_name(staging.name + ".old")
            os.replace(target, old)
            os.replace(staging, target)
            shutil.rmtree(old)
        else:
            os.replace(staging, target)
    return target


@contextlib.contextmanager
def _refused(target: Path, message: str, expected: str,
             staging: Path | None = None) -> Iterator[None]:
    """An ``OSError`` in the block is the refusal of ``target`` (an
    :class:`~duis.errors.InputError`); ``staging``, the file or folder written
    beside it, is never left behind."""
    try:
        yield
    except OSError as exc:
        raise InputError(message, source=str(target), expected=expected,
                         found=exc.strerror or type(exc).__name__) from None
    finally:
        if staging is not None and staging.is_dir() and not staging.is_symlink():
            shutil.rmtree(staging)
        elif staging is not None and staging.exists():
            staging.unlink()


__all__ = ["make_folder", "write_file", "write_folder"]
