"""Reading a request's body: the one way every endpoint of ``duis serve`` and
``duis receive`` does it.

The whole body, however it arrives (one write, many TCP segments, HTTP chunks),
at most ``limit`` bytes (a larger ``Content-Length`` is refused unread), within
``timeout`` seconds for all of it.  A body that cannot be read is the client's
doing, never a server fault: one it spelled wrongly (bad chunking, a
``Content-Encoding`` that does not decode) or stopped sending (it hung up) is
refused with :class:`BodyUnreadable`.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from ..errors import InputError, InputTooLarge

#: after refusing a body (408, 413, 400), seconds aiohttp goes on reading (and dropping)
#: what the client still sends, so that it sees the answer, before closing
LINGER_SECONDS = 1.0


class BodyTimeout(InputError):
    """The body did not arrive in time (HTTP 408)."""


class BodyUnreadable(InputError):
    """The body could not be read: it does not decode, or the client hung up (HTTP 400)."""


async def read_body(request: web.BaseRequest, limit: int, timeout: float,
                    what: str = "request body") -> bytes:
    """All of ``request``'s body; :class:`~duis.errors.InputTooLarge` over ``limit``
    bytes, :class:`BodyTimeout` when it is not all there within ``timeout`` seconds,
    :class:`BodyUnreadable` when it cannot be read."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise InputTooLarge(f"{what} too large, refused unread",
                            expected=f"at most {limit} bytes", found=f"{declared} bytes")
    data = bytearray()
    try:
        async with asyncio.timeout(timeout):
            while chunk := await request.content.read(limit + 1 - len(data)):
                data += chunk
                if len(data) > limit:
                    raise InputTooLarge(f"{what} too large", expected=f"at most {limit} bytes",
                                        found="more")
    except TimeoutError:
        raise BodyTimeout(f"{what} not received in time",
                          expected=f"the whole body within {timeout} s",
                          found=f"{len(data)} bytes") from None
    except (web.RequestPayloadError, ConnectionError) as exc:
        raise BodyUnreadable(f"{what} could not be read", expected="a body sent whole, "
                             "in a Content-Encoding this server decodes",
                             found=f"{type(exc).__name__}: {str(exc)[:120]}") from None
    return bytes(data)


__all__ = ["LINGER_SECONDS", "BodyTimeout", "BodyUnreadable", "read_body"]
