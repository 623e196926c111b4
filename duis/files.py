"""Folders duis writes: made, or replaced whole, or refused by name.

A path that cannot hold the folder (a file or a symbolic link in the way, a
path under a file, no permission) is an :class:`~duis.errors.InputError`
naming it, what was expected and what was found, never an ``OSError``.
"""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path

from .errors import InputError


def make_folder(path: str | os.PathLike) -> Path:
    """``path`` as a folder, made with its parents if absent."""
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError("cannot make the folder", source=str(folder),
                         expected="a folder, or a path where one may be made",
                         found=exc.strerror or type(exc).__name__) from None
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
    try:
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
    except OSError as exc:
        raise InputError("cannot write the folder", source=str(target),
                         expected="a folder that may be written",
                         found=exc.strerror or type(exc).__name__) from None
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return target


__all__ = ["make_folder", "write_folder"]
