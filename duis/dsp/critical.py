"""The critical-command flow: a PreCommand for CV 4, its signed return for CV 5-7.

The PreCommand is a real GBCS CS06 command: its General Signing APDU with no signature
field (:func:`duis.gbcs.codec.precommand`).  The user signs it as GBCS and DCC Boxed
clients do (the signature field appended: ``40`` and ``r || s`` over the APDU after
its tag) and returns it in a SignedPreCommand.  The DSP remembers each PreCommand it
issued, by user and originator counter; a SignedPreCommand is accepted only when its
signature verifies against the user's digital-signing certificate valid now and the
signed command is, byte for byte, one the DSP issued to that user (everything but the
signature).  The DSP, as Access Control Broker, then MACs it as it stands
(:func:`duis.gbcs.wire.wrap_mac`) and sends it to the device.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
from collections import OrderedDict

from ..errors import DuisError
from ..gbcs import GbcsMessage, WireError, WorldKeys, from_base64, precommand, read
from ..gbcs.wire import wrap_mac
from ..gbcs.wire.crypto import KeyRing
from ..gbcs.wire.frames import GENERAL_SIGNING
from ..messages import EUI64, Request
from ..messages.ids import is_canonical_eui
from ..signatures import CredentialStore
from ..signatures.gbcs import split_signed_command, verify_precommand

#: where a General Signing APDU holds its originator counter (after DF 09 and the CRA flag)
_COUNTER = slice(3, 11)
_PATH = "/sr:Request/sr:Body/sr:SignedPreCommand/sr:GBCSPayload"


class PreCommandMismatch(DuisError):
    """A SignedPreCommand whose command the DSP never issued as a PreCommand."""

    exit_code = 1


@dataclasses.dataclass(frozen=True)
class Redeemed:
    """A SignedPreCommand proven: the command it carries and its bytes as signed."""

    command: GbcsMessage
    signed: bytes

    def on_the_wire(self, keys: KeyRing) -> bytes:
        """The signed command MAC'd by the Access Control Broker, as it goes to the device
        (a world's ring remembers what it is: :meth:`~duis.gbcs.WorldKeys.recall`)."""
        data = wrap_mac(self.signed, keys)
        if isinstance(keys, WorldKeys):
            keys.remember(data, self.command)
        return data


#: PreCommands the DSP remembers: beyond this many, the oldest is forgotten (its
#: SignedPreCommand is then refused as one for no PreCommand issued), so that users
#: asking for PreCommands they never sign cannot grow the DSP's memory without bound
ISSUED_MAX = 1 << 16


class PreCommandBook:
    """The PreCommands issued, by (user EUI-64, originator counter): the last
    :data:`ISSUED_MAX`."""

    def __init__(self, limit: int = ISSUED_MAX) -> None:
        self.limit = limit
        self.issued: OrderedDict[tuple[str, int], bytes] = OrderedDict()
        self._outstanding: dict[tuple[str, int], GbcsMessage] = {}
        """The commands issued and not yet redeemed that decoding their bytes gives back
        exactly: a SignedPreCommand carrying those bytes needs no decoding."""

    def issue(self, command: GbcsMessage) -> bytes:
        data = precommand(command)
        key = (str(command.originator), command.transaction)
        self.issued[key] = data
        self.issued.move_to_end(key)
        if _decodes_to_itself(command):
            self._outstanding[key] = command
        else:
            self._outstanding.pop(key, None)
        while len(self.issued) > self.limit:
            forgotten, _ = self.issued.popitem(last=False)
            self._outstanding.pop(forgotten, None)
        return data

    def redeem(self, request: Request, store: CredentialStore, now: _dt.datetime,
               source: str, *, check_signature: bool = True) -> Redeemed:
        """The command of a SignedPreCommand, once its GBCS signature (unless told
        not to: tests of the bookkeeping alone) and its origin are proven."""
        signed = from_base64(request.body.text_at("GBCSPayload") or "", source)
        if check_signature:
            command_bytes = verify_precommand(signed, store, request.originator, now=now,
                                              source=source)
        else:
            command_bytes, _ = split_signed_command(signed, source)
        if len(command_bytes) > _COUNTER.stop and command_bytes[0] == GENERAL_SIGNING:
            # the bytes of a PreCommand issued to this user: its command, as issued
            key = (str(request.originator), int.from_bytes(command_bytes[_COUNTER], "big"))
            if self.issued.get(key) == command_bytes:
                issued_command = self._outstanding.pop(key, None)
                return Redeemed(issued_command if issued_command is not None
                                else read(command_bytes, source=source), signed)
        try:
            command = read(command_bytes, source=source)
        except WireError as exc:
            raise PreCommandMismatch(
                "the signed command is not a PreCommand this DSP issued", source=source,
                path=_PATH, expected="the command bytes of a PreCommand this DSP issued "
                f"to {request.originator}", found=f"bytes that are not one ({exc.message})"
            ) from None
        issued = self.issued.get((str(request.originator), command.transaction))
        raise PreCommandMismatch(
            "the signed command does not match a PreCommand issued to this user",
            source=source, path=_PATH,
            expected="the command bytes of a PreCommand this DSP issued "
                     f"to {request.originator}",
            found=("a different command for transaction "
                   f"{command.transaction}") if issued else
                  f"no PreCommand issued for transaction {command.transaction}")


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
