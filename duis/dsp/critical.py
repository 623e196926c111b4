"""The critical-command flow: a PreCommand for CV 4, its signed return for CV 5-7.

The DSP remembers each PreCommand it issued, by user and transaction; a
SignedPreCommand is accepted only when its GBCS signature verifies against
the user's digital-signing certificate and its command is, byte for byte,
one the DSP issued to that user.
"""

from __future__ import annotations

import datetime as _dt

from ..errors import DuisError
from ..gbcs import GbcsMessage, decode, encode, from_base64
from ..messages import Request
from ..signatures import CredentialStore
from ..signatures.gbcs import split_signed_command, verify_precommand


class PreCommandMismatch(DuisError):
    """A SignedPreCommand whose command the DSP never issued as a PreCommand."""

    exit_code = 1


class PreCommandBook:
    """The PreCommands issued, by (user EUI-64, transaction)."""

    def __init__(self) -> None:
        self.issued: dict[tuple[str, int], bytes] = {}

    def issue(self, command: GbcsMessage) -> bytes:
        data = encode(command)
        self.issued[(str(command.originator), command.transaction)] = data
        return data

    def redeem(self, request: Request, store: CredentialStore, now: _dt.datetime,
               source: str, *, check_signature: bool = True) -> GbcsMessage:
        """The command of a SignedPreCommand, once its signature (unless told not to:
        unsigned simulations) and its origin are proven."""
        signed = from_base64(request.body.text_at("GBCSPayload") or "", source)
        if check_signature:
            verify_precommand(signed, store, request.originator, now=now, source=source)
        command_bytes, _ = split_signed_command(signed, source)
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
