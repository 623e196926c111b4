#!/usr/bin/env python3
"""Put real GBCS payloads (duis.gbcs.codec) into the sample messages that carry one.

The samples are hand-written; their GBCSPayload elements must decode.  This
rewrites only the text of those elements, so the rest of each file keeps its
layout.  Keys: the test PKI's (users, the DSP as Access Control Broker) and the
devices' derived ones (duis.gbcs.keys); the signed pre-command is signed with the
test PKI's supplier ds key, as a DCC Boxed client signs it.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from duis.gbcs import (  # noqa: E402
    ActivateFirmware,
    FirmwareActivationAlert,
    FirmwareVersionReport,
    GbcsMessage,
    Kind,
    encode,
    precommand,
    to_base64,
    world_keys,
)
from duis.gbcs.wire.usecases import CS06, ECS52, FUTURE_DATED_ACTIVATION_ALERT  # noqa: E402
from duis.messages.ids import EUI64  # noqa: E402
from duis.signatures import CredentialStore  # noqa: E402
from duis.signatures.gbcs import sign_command  # noqa: E402

VALID = ROOT / "samples" / "messages" / "valid"
SUPPLIER, ESME = EUI64.parse("90-B3-D5-1F-30-01-00-00"), EUI64.parse("00-DB-12-34-56-78-90-A0")
HASH = bytes.fromhex("9BC9B87DB00B456CB727B38262F1D5ED824ED59E9A23AD3513184D3F7B413FFC")
AT = dt.datetime(2026, 3, 9, 2, 30, tzinfo=dt.UTC)


def payloads() -> dict[str, str]:
    store = CredentialStore(ROOT / "samples" / "pki")
    keys = world_keys(store, acb=store.dsp_signing_credential().eui)
    command = precommand(GbcsMessage(Kind.COMMAND, SUPPLIER, ESME, 2004, CS06,
                                     ActivateFirmware(HASH, AT)))
    key = store.for_eui(SUPPLIER, "ds")[0].private_key
    alert = encode(GbcsMessage(Kind.ALERT, ESME, SUPPLIER, 2005, FUTURE_DATED_ACTIVATION_ALERT,
                               FirmwareActivationAlert("success", "2.0.1", AT, 2004)), keys)
    return {
        "ECS52_11.2_read_firmware_version_I0_response.xml": to_base64(encode(GbcsMessage(
            Kind.RESPONSE, ESME, SUPPLIER, 2002, ECS52, FirmwareVersionReport("2.0.1")), keys)),
        "CS06_11.3_precommand_response.xml": to_base64(command),
        "CS06_11.3_signed_precommand_request.xml": to_base64(sign_command(command, key)),
        "8F66_device_alert_response.xml": to_base64(alert),
        "CS06_11.3_future_dated_outcome_response.xml": to_base64(alert),
    }


def main() -> int:
    for name, payload in payloads().items():
        path = VALID / name
        text = path.read_text("utf-8")
        updated = re.sub(r"(<sr:GBCSPayload>)[^<]*(</sr:GBCSPayload>)",
                         lambda m, payload=payload: m.group(1) + payload + m.group(2),
                         text, count=1)
        if updated != text:
            path.write_text(updated, "utf-8")
            print(f"updated {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
