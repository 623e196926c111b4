"""The critical-command flow: a PreCommand for CV 4, its signed return for CV 5-7.

The DSP remembers each PreCommand it issued, by user and transaction; a
SignedPreCommand is accepted only when its GBCS signature verifies against
the user's digital-signing certificate and its command is, byte for byte,
one the DSP issued to that user.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt

from ..errors import DuisError
from ..gbcs import GbcsMessage, decode, encode, from_base64
from ..gbcs.codec import HEADER_BYTES, MAGIC
from ..messages import EUI64, Request
from ..messages.ids import is_canonical_eui
from ..signatures import CredentialStore
from ..signatures.gbcs import split_signed_command, verify_precommand


class PreCommandMismatch(DuisError):
    """A SignedPreCommand whose command the DSP never issued as a PreCommand."""

    exit_code = 1


class PreCommandBook:
    """The PreCommands issued, by (user EUI-64, transaction)."""

    def __init__(self) -> None:
        self.issued: dict[tuple[str, int], bytes] = {}
        self._outstanding: dict[tuple[str, int], GbcsMessage] = {}
        """The commands issued and not yet redeemed that decoding their bytes gives back
        exactly: a SignedPreCommand carrying those bytes needs no decoding."""

    def issue(self, command: GbcsMessage) -> bytes:
        data = encode(command)
        key = (str(command.originator), command.transaction)
        self.issued[key] = data
        if _decodes_to_itself(command):
            self._outstanding[key] = command
        else:
            self._outstanding.pop(key, None)
        return data

    def redeem(self, request: Request, store: CredentialStore, now: _dt.datetime,
               source: str, *, check_signature: bool = True) -> GbcsMessage:
        """The command of a SignedPreCommand, once its GBCS signature (unless told
        not to: tests of the bookkeeping alone) and its origin are proven."""
        signed = from_base64(request.body.text_at("GBCSPayload") or "", source)
        if check_signature:
            verify_precommand(signed, store, request.originator, now=now, source=source)
        command_bytes, _ = split_signed_command(signed, source)
        if len(command_bytes) >= HEADER_BYTES and command_bytes[0] == MAGIC:
            # the bytes of a PreCommand issued to this user: its command, as issued
            key = (str(request.originator), int.from_bytes(command_bytes[18:26], "big"))
            if self.issued.get(key) == command_bytes:
                issued_command = self._outstanding.pop(key, None)
                if issued_command is not None:
                    return issued_command
        command = decode(command_bytes, source)
        key = (str(request.originator), command.transaction)
        issued = self.issued.get(key)
        if issued != command_bytes:
            raise PreCommandMismatch(
                "the signed command does not match a PreCommand issued to this user",
                source=source, path="/sr:Request/sr:Body/sr:SignedPreCommand/sr:GBCSPayload",
                expected="the command bytes of a PreCommand this DSP issued "
                         f"to {request.originator}",
                found=("a different command for transaction "
                       f"{command.transaction}") if issued else
                      f"no PreCommand issued for transaction {command.transaction}")
        return command


#: payload field values that come back from the codec as they went in
_PLAIN = (bytes, str, int, bool, type(None))


def _decodes_to_itself(command: GbcsMessage) -> bool:
    """Whether ``decode(encode(command))`` is ``command`` field for field, with the same
    types: plain values, canonical EUI-64s, instants in UTC and whole seconds."""
    if type(command.transaction) is not int or type(command.message_code) is not int:
        return False
    for eui in (command.originator, command.target):
        if type(eui) is not EUI64 or not is_canonical_eui(eui.text):
            return False
    payload = command.payload
    if not dataclasses.is_dataclass(payload):
        return False
    for field in dataclasses.fields(payload):
        value = getattr(payload, field.name)
        if type(value) in _PLAIN:
            continue
        if type(value) is _dt.datetime and value.tzinfo is _dt.UTC \
                and not value.microsecond:
            continue
        return False
    return True
