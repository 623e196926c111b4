"""The real signed messages and the ZAZ1 set from ../shared/reference."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from lxml import etree

from duis.errors import EntitiesForbidden
from duis.signatures import CredentialStore, sign_with_store, verify
from duis.signatures import errors as E
from duis.signatures.profile import DS, SR

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference"
SIGNED = REFERENCE / "corpus" / "signed"
REQUESTS = REFERENCE / "corpus" / "requests"
ECS17B = SIGNED / "ECS17b_4.1.1_SINGLE_SUCCESS_REQUEST_DUIS-signed.XML"

pytestmark = pytest.mark.reference


@pytest.fixture(scope="module")
def zaz1() -> CredentialStore:
    if not REFERENCE.is_dir():
        pytest.skip(f"reference data not available: {REFERENCE} is absent "
                    f"(clone with ../shared beside the repo to run this test)")
    return CredentialStore(REFERENCE / "zaz1")


def read(path: Path) -> bytes:
    return path.read_bytes()


@pytest.mark.parametrize("name", ["readfw-response.xml", "read-inventory-response-5.4.xml"])
def test_dcc_signed_responses_verify(zaz1, name):
    verified = verify(read(SIGNED / name), zaz1, source=name)
    assert verified.kind == "Response" and str(verified.signer_eui) == "90-B3-D5-1F-30-00-00-02"
    assert verified.root.find(f"{{{DS}}}Signature") is None
    assert verified.root.find(f"{{{SR}}}Body") is not None


def test_readfw_response_verifies_with_its_legacy_dsp_certificate(zaz1):
    verified = verify(read(SIGNED / "readfw-response.xml"), zaz1)
    assert verified.credential.path.name == "dsp-xml-sign-90B3D51F30000002-ds-pre-1.4.1.pem"
    assert verified.certificate.serial_number == 50669612984035780968362471400449834504
    assert b"<sr:GBCSPayload>3QAAAAAAAFURAAAAAN8J" in verified.signed_bytes


def test_bad_signature_is_refused(zaz1):
    with pytest.raises(E.BadSignatureValue) as caught:
        verify(read(SIGNED / "readfw-response-badsignature.xml"), zaz1,
               source="readfw-response-badsignature.xml")
    assert caught.value.path == "/sr:Response/ds:Signature/ds:SignatureValue"


@pytest.mark.parametrize("name", ["readfw-response-no-signature.xml",
                                  "acknowledgement-error.xml"])
def test_unsigned_responses_are_refused(zaz1, name):
    with pytest.raises(E.SignatureMissing):
        verify(read(SIGNED / name), zaz1)


def test_xxe_is_refused_before_any_signature_work(zaz1):
    with pytest.raises(EntitiesForbidden):
        verify(read(SIGNED / "duis-xxe.xml"), zaz1)


def test_ecs17b_template_carries_placeholders(zaz1):
    """The corpus copy has placeholder values ("ZGVmYXVsdA==" is "default"), so it is
    refused as it stands; signed for real it verifies (next test, and the interop test)."""
    with pytest.raises(E.ProfileViolation) as caught:
        verify(read(ECS17B), zaz1)
    assert "ZGVmYXVsdA==" in caught.value.found


def test_ecs17b_signed_with_zaz1_verifies(zaz1):
    when = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    signed = sign_with_store(read(ECS17B), zaz1, preserve_counter=True, now=when)
    verified = verify(signed, zaz1, now=when)
    assert str(verified.message_id) == "90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:1000"
    assert verified.credential.path.name == "xml-sign-90B3D51F30010000-ds.pem"
    assert b"ReadInstantaneousImportRegisters" in verified.signed_bytes


def test_every_request_template_signs_and_verifies(zaz1):
    """All corpus requests from users with a ZAZ1 xml-sign key round-trip."""
    count = 0
    for path in sorted(REQUESTS.glob("*.XML")):
        root = etree.fromstring(read(path))
        originator = root.findtext(f"{{{SR}}}Header/{{{SR}}}RequestID").split(":")[0]
        if not zaz1.for_eui(originator, "xml-sign"):
            continue
        signed = sign_with_store(read(path), zaz1, preserve_counter=True)
        assert verify(signed, zaz1, source=path.name).message_id is not None
        kept = sign_with_store(read(path), zaz1, preserve_counter=True, strip_whitespace=False)
        assert verify(kept, zaz1, source=path.name).message_id is not None
        count += 1
    assert count > 50
