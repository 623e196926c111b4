"""A DUIS Response carrying a device reply, as MMC output.

The device's GBCS reply travels base64 in a ``GBCSPayload``: in a
``ResponseMessage`` (a response), in its ``FutureDatedDeviceAlertMessage``
(the outcome of a future-dated command) or in a ``DeviceAlertMessage`` (an
alert).  This module finds it, decodes it, checks it against what the
Response says around it (alert code) and hands it to :mod:`.output`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..gbcs.codec import from_base64, read
from ..gbcs.model import GbcsMessage
from ..messages import MMCDocument, Node, Response
from .errors import TranslationError
from .output import mmc_document

#: where a device reply sits below sr:Body, and the element naming its alert code
_CARRIERS = (("ResponseMessage", "GBCSPayload", None),
             ("ResponseMessage", "FutureDatedDeviceAlertMessage/GBCSPayload",
              "FutureDatedDeviceAlertMessage/FutureDatedAlertCode"),
             ("DeviceAlertMessage", "GBCSPayload", "AlertCode"))


@dataclass(frozen=True)
class DeviceReply:
    """A decoded device reply and what its Response said about it."""

    message: GbcsMessage
    service_reference_variant: str | None
    alert_code: str | None
    path: str
    """Where the GBCSPayload was, e.g.
    ``/sr:Response/sr:Body/sr:DeviceAlertMessage/sr:GBCSPayload``."""


def _xpath(body: Node, path: str) -> str:
    return "/sr:Response/sr:Body/" + "/".join(f"sr:{p}" for p in [body.name, *path.split("/")])


def device_reply(response: Response, source: str = "<response>") -> DeviceReply:
    """The device reply a Response carries; TranslationError if it carries none."""
    body = response.body
    for parent, path, code_path in _CARRIERS:
        text = body.text_at(path) if body.name == parent else None
        if text is None:
            continue
        where = _xpath(body, path)
        label = f"{source} ({where})"
        message = read(from_base64(text, label), source=label)
        code = body.text_at(code_path) if code_path else None
        if code is not None and code.strip().upper() != f"{message.alert_code:04X}":
            raise TranslationError("the alert code disagrees with the GBCS payload",
                                   source=source,
                                   path=_xpath(body, code_path) if code_path else None,
                                   expected=f"{message.alert_code:04X} (the payload's code)",
                                   found=code.strip())
        return DeviceReply(message, response.service_reference_variant,
                           code.strip().upper() if code else None, where)
    what = f"sr:{body.name} without one"
    if body.child("PreCommand") is not None:
        what = "a PreCommand (a command for the user to sign, not a device reply)"
    raise TranslationError("the Response carries no device reply", source=source,
                           path=f"/sr:Response/sr:Body/sr:{body.name}",
                           expected="a GBCSPayload in ResponseMessage, "
                                    "FutureDatedDeviceAlertMessage or DeviceAlertMessage",
                           found=what)


def mmc_for_response(response: Response, source: str = "<response>") -> tuple[DeviceReply,
                                                                               MMCDocument]:
    """The device reply in ``response`` and its MMC output, stamped with the
    Response's ResponseDateTime."""
    reply = device_reply(response, source)
    try:
        document = mmc_document(reply.message,
                                service_reference_variant=reply.service_reference_variant,
                                when=response.header.when)
    except TranslationError as exc:
        exc.source = exc.source or source
        raise
    return reply, document


__all__ = ["DeviceReply", "device_reply", "mmc_for_response"]
