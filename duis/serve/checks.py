"""What a web service takes: a request's stateless checks, refused unless the message
is an ``sr:Request`` (a valid, signed Response posted by mistake is refused with
:class:`~duis.errors.WrongRoot`).  The same in the server's process and in a worker."""

from __future__ import annotations

from collections.abc import Callable

from lxml import etree

from ..errors import DuisError, WrongRoot
from ..namespaces import sr

REQUEST_TAG = sr("Request")


def request_checked(check: Callable, data: bytes, source: str):
    """``check()``'s :class:`~duis.dsp.service.Checked`, refused unless it holds a
    Request: a failure that is not a refusal becomes :class:`WrongRoot` when the
    input is a valid, signed Response posted by mistake."""
    from ..messages import Request
    try:
        checked = check()
    except DuisError:
        raise
    except Exception:
        ensure_request(data, source)
        raise
    if not isinstance(checked.request, Request):
        raise not_a_request(checked.request, source)
    return checked


def ensure_request(data: bytes, source: str) -> None:
    """Raise :class:`WrongRoot` unless ``data`` is an ``sr:Request``."""
    from ..xmlparse import parse_bytes
    root = parse_bytes(data, source).getroot()
    if root.tag != REQUEST_TAG:
        raise WrongRoot("a web service takes a DUIS request", source=source, path="/",
                        expected="sr:Request", found=etree.QName(root).localname)


def not_a_request(message: object, source: str) -> WrongRoot:
    """The refusal of a message that verified but is not a Request (a Response)."""
    return WrongRoot("a web service takes a DUIS request", source=source, path="/",
                     expected="sr:Request", found=type(message).__name__)
