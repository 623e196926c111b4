"""One writer beside a server: ``duis serve --smi FILE`` claims the file.

A server keeps its SMI's records and its emulated devices in memory, read once at
start, so a change another process commits to the same file meanwhile is not seen
by it: a comms hub firmware deployment run from the command line would then be
failed by the server at activation, and the server would answer from stale
records.  So the server claims the file, with an advisory lock on ``FILE.serving``
(released when the server stops or dies, ``kill -9`` included), and a command that
would change the same SMI meanwhile is refused (:class:`SmiServed`), naming the
server to send it to; commands that only read it are not.  Where the platform has
no ``fcntl`` (Windows), there is no claim.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import SmiError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks, no claim
    fcntl = None  # type: ignore[assignment]


class SmiServed(SmiError):
    """The SMI file is served by a running ``duis serve``: change it through the server."""


def _claim_path(smi: str | os.PathLike) -> Path:
    path = Path(smi)
    return path.with_name(path.name + ".serving")


class Claim:
    """A server's claim on its SMI file, held until :meth:`release`."""

    def __init__(self, smi: str | os.PathLike, holder: str) -> None:
        self.smi, self._fd = str(smi), None
        if fcntl is None:
            return
        fd = os.open(_claim_path(smi), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise SmiServed("the SMI file is served by another duis serve", source=self.smi,
                            expected="one server per SMI file",
                            found=_holder(smi) or "a running server") from None
        os.ftruncate(fd, 0)
        os.write(fd, holder.encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)                    # the lock goes with the descriptor
            self._fd = None


def refuse_if_served(smi: str | os.PathLike) -> None:
    """Refuse (:class:`SmiServed`) to change ``smi`` while a server claims it."""
    path = _claim_path(smi)
    if fcntl is None or not path.exists():
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        raise SmiServed("the SMI file is served by duis serve", source=str(smi),
                        expected="changes sent to the server (its web services and admin "
                                 "endpoints), or the server stopped first",
                        found=_holder(smi) or "a running server") from None
    finally:
        os.close(fd)


def _holder(smi: str | os.PathLike) -> str:
    """Who claims the file, as the server wrote it (empty if unreadable)."""
    try:
        return _claim_path(smi).read_text("utf-8", "replace")[:200]
    except OSError:
        return ""


__all__ = ["Claim", "SmiServed", "refuse_if_served"]
