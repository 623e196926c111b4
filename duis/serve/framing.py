"""The frames between ``duis serve`` and its worker processes: a 4-byte length and a
pickle, over a Unix socket pair; instants as microseconds since the epoch; an
exception made safe to send back."""

from __future__ import annotations

import datetime as _dt
import pickle
import struct
import traceback

from ..errors import DuisError

FRAME = struct.Struct(">I")
#: pickle protocol of the frames
PROTOCOL = 5


def frame(item: object) -> bytes:
    """``item`` as one frame."""
    payload = pickle.dumps(item, PROTOCOL)
    return FRAME.pack(len(payload)) + payload


class FrameReader:
    """Splits a byte stream into the pickled items it carries."""
    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, chunk: bytes) -> list:
        buffer = self._buffer
        buffer += chunk
        items, start, end = [], 0, len(buffer)
        while end - start >= 4:
            (size,) = FRAME.unpack_from(buffer, start)
            if end - start - 4 < size:
                break
            items.append(pickle.loads(memoryview(buffer)[start + 4:start + 4 + size]))
            start += 4 + size
        if start:
            del buffer[:start]
        return items


_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)


def microseconds(now: _dt.datetime) -> int:
    """An instant as microseconds since the epoch, as frames carry it; naive means
    UTC, as the signature checks take it."""
    # an int pickles 20 times faster than a datetime
    if now.tzinfo is None:
        now = now.replace(tzinfo=_dt.UTC)
    return (now - _EPOCH) // _dt.timedelta(microseconds=1)


def instant(microseconds: int) -> _dt.datetime:
    """The instant :func:`microseconds` gave."""
    return _EPOCH + _dt.timedelta(microseconds=microseconds)


def portable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling, else a RuntimeError saying what it was; a
    fault that is not a refusal carries the worker's traceback as a note."""
    if not isinstance(exc, DuisError):
        exc.add_note("in a duis serve worker process:\n"
                     + "".join(traceback.format_exception(exc)).rstrip())
    try:
        pickle.loads(pickle.dumps(exc, PROTOCOL))
        return exc
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")
