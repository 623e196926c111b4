"""GBCS keys in credential stores: the test PKI's key-agreement certificates, the
look-up by EUI-64, and the reference key folder and ZAZ1 set read as stores."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from duis.gbcs.wire.certificates import certificate, derive_key, party_keys
from duis.gbcs.wire.crypto import KeyRing
from duis.messages.ids import EUI64
from duis.signatures import CredentialStore, generate_test_pki
from duis.signatures.credentials import CredentialError, certificate_eui

ROOT = Path(__file__).resolve().parents[1]
PKI = ROOT / "samples" / "pki"
REFERENCE = ROOT.parent / "shared" / "reference"
KEYSTORE = REFERENCE / "gbcs" / "keystore"
ZAZ1 = REFERENCE / "zaz1"

DSP = "90-B3-D5-1F-30-00-00-02"
#: every party of the test PKI with a key-agreement key, and its SMKI role code
KA_PARTIES = {"90-B3-D5-1F-30-01-00-00": "02", "90-B3-D5-1F-30-02-00-00": "02",
              "90-B3-D5-1F-30-05-00-00": "03", DSP: "04"}
DEVICE = "00-DB-12-34-56-78-90-A0"


def _usage(cert: x509.Certificate) -> x509.KeyUsage:
    return cert.extensions.get_extension_for_class(x509.KeyUsage).value


@pytest.fixture(scope="module")
def store() -> CredentialStore:
    return CredentialStore(PKI)


@pytest.mark.parametrize("eui", sorted(KA_PARTIES))
def test_every_user_and_the_acb_has_a_key_agreement_credential(store, eui):
    credential = store.key_agreement(eui)
    assert credential.function == "ka" and credential.eui == EUI64.parse(eui)
    assert credential.path.name == f"{EUI64.parse(eui).compact.lower()}-ka.pem"
    assert credential.private_key is not None
    assert credential.organisational_units == (KA_PARTIES[eui],)  # organisation shape
    usage = _usage(credential.certificate)
    assert usage.key_agreement and not usage.digital_signature
    assert store.for_eui(eui, "ka") == [credential]
    assert store.gbcs_credential(eui, "ka") is credential


def test_a_ka_key_agrees_with_a_device_key(store):
    """ECDH between a user's ka key and an emulated device's gives one Z both ways."""
    user = store.key_agreement("90-B3-D5-1F-30-01-00-00")
    device = party_keys(DEVICE).ka
    assert user.private_key is not None
    mine = user.private_key.exchange(ec.ECDH(), device.public_key())
    theirs = device.exchange(ec.ECDH(), user.public_key)
    assert mine == theirs and len(mine) == 32


def test_the_acb_has_a_gbcs_signing_credential_too(store):
    acb = store.gbcs_credential(DSP, "ds")
    assert acb.path.name == "90b3d51f30000002-ds.pem" and acb.organisational_units == ("04",)
    assert acb.private_key is not None and _usage(acb.certificate).digital_signature
    # the DSP's XML-signing credential is still the one it signs Responses with
    assert store.dsp_signing_credential().path.name == "dsp-xml-sign-90B3D51F30000002.pem"


def test_the_test_pki_is_a_gbcs_key_folder(store):
    """The DCC parser's and KeyRing's file-name look-up finds the same ka keys."""
    ring = KeyRing(folders=[PKI])
    for eui in KA_PARTIES:
        credential = store.key_agreement(eui)
        public = ring.public_key(eui, "ka")
        private = ring.private_key(eui, "ka")
        assert public is not None and private is not None
        assert public.public_numbers() == credential.public_key.public_numbers()
        assert private.private_numbers() == credential.private_key.private_numbers()


def test_every_key_of_the_test_pki_is_its_own(tmp_path):
    """The ka keys are new keys: none is another credential's key (or the CA's)."""
    files = generate_test_pki(tmp_path)
    assert {n for n in files if n.endswith("-ka.pem")} == {
        f"{EUI64.parse(e).compact.lower()}-ka.pem" for e in KA_PARTIES}
    store = CredentialStore(tmp_path)
    points = [c.public_key.public_numbers() for c in store]
    assert len(points) == len(store) == len({(p.x, p.y) for p in points})


def test_a_missing_ka_credential_names_the_eui_and_the_store(store):
    with pytest.raises(CredentialError) as caught:
        store.key_agreement("90-B3-D5-1F-30-09-00-00")  # the expired user: XML signing only
    text = str(caught.value)
    assert "90-B3-D5-1F-30-09-00-00" in text and str(PKI) in text
    assert "90b3d51f30090000-ka.pem" in text and "xml-sign" in text
    assert caught.value.exit_code == 2
    with pytest.raises(CredentialError, match="digital-signing"):
        store.gbcs_credential("90-B3-D5-1F-30-09-00-00", "ds")


def test_a_device_certificate_is_indexed_by_its_hardware_module_name(tmp_path):
    issuer = derive_key("issuer")
    device = certificate(DEVICE, "ka", party_keys(DEVICE).ka.public_key(), issuer, device=True)
    assert device.subject == x509.Name([])
    assert certificate_eui(device) == EUI64.parse(DEVICE)
    user = certificate("90-B3-D5-1F-30-01-00-00", "ds", derive_key("u").public_key(), issuer,
                       device=False)
    assert certificate_eui(user) == EUI64.parse("90-B3-D5-1F-30-01-00-00")
    anonymous = (x509.CertificateBuilder()
                 .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "no EUI")]))
                 .issuer_name(user.issuer).public_key(user.public_key()).serial_number(5)
                 .not_valid_before(user.not_valid_before_utc)
                 .not_valid_after(user.not_valid_after_utc).sign(issuer, hashes.SHA256()))
    assert certificate_eui(anonymous) is None


@pytest.mark.reference
def test_the_reference_key_folder_is_a_credential_store():
    if not KEYSTORE.is_dir():
        pytest.skip(f"reference data not available: {KEYSTORE} is absent")
    store = CredentialStore(KEYSTORE)
    assert store.rejected == []
    # devices: certificates only, found by the EUI-64 in their subjectAltName
    device = store.key_agreement(DEVICE)
    assert device.path.name == "00db1234567890a0-ka.pem" and device.private_key is None
    assert store.gbcs_credential(DEVICE, "ds").path.name == "00db1234567890a0-ds.pem"
    # Supplier A: the main ka key wins over the prepayment (-pp-) one
    supplier = store.key_agreement("90-B3-D5-1F-30-01-00-00")
    assert supplier.path.name == "90b3d51f30010000-ka.pem" and supplier.private_key is not None
    assert len(store.for_eui("90-B3-D5-1F-30-01-00-00", "ka")) == 2
    assert store.key_agreement(DSP).path.name == "90b3d51f30000002-ka.pem"  # the ACB
    # a user's ka key and a device's agree on Z whichever side computes it
    assert supplier.private_key is not None
    assert len(supplier.private_key.exchange(ec.ECDH(), device.public_key)) == 32
    # Supplier A's GBCS signing key (what a client signs a PreCommand with)
    signer = store.signing_credential("90-B3-D5-1F-30-01-00-00", "ds")
    assert signer.path.name == "90b3d51f30010000-ds.pem" and signer.private_key is not None


@pytest.mark.reference
def test_the_zaz1_set_has_no_ka_keys_and_says_so():
    if not ZAZ1.is_dir():
        pytest.skip(f"reference data not available: {ZAZ1} is absent")
    store = CredentialStore(ZAZ1)
    assert store.gbcs_credential("90-B3-D5-1F-30-01-00-00", "ds").function == "ds"
    with pytest.raises(CredentialError) as caught:
        store.key_agreement("90-B3-D5-1F-30-01-00-00")
    assert str(ZAZ1) in str(caught.value) and "90-B3-D5-1F-30-01-00-00" in str(caught.value)


def test_a_key_file_over_the_cap_is_refused_unread(tmp_path):
    from duis.gbcs.wire.crypto import MAX_KEY_FILE_BYTES, load_private_key, load_public_key
    from duis.gbcs.wire.errors import KeyFileError
    huge = tmp_path / "00db1234567890a0-ds.pem"
    huge.write_bytes(b"-----BEGIN CERTIFICATE-----\n" + b"A" * (MAX_KEY_FILE_BYTES + 10))
    for load in (load_public_key, load_private_key):
        with pytest.raises(KeyFileError, match="key file too large"):
            load(huge)
