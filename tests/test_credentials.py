"""The credential store, and the project's test PKI."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from duis.signatures import CredentialStore, generate_test_pki
from duis.signatures.credentials import (
    certificate_eui,
    load_certificate,
    load_private_key,
    normalise_dn,
)
from duis.signatures.errors import CredentialError, NoSigningCredential

ROOT = Path(__file__).resolve().parents[1]
PKI = ROOT / "samples" / "pki"
ZAZ1 = ROOT.parent / "shared" / "reference" / "zaz1"
NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


def test_committed_pki_is_what_the_generator_makes(tmp_path):
    files = generate_test_pki(tmp_path)
    committed = {p.name: p.read_bytes() for p in PKI.iterdir() if p.name != "README.md"}
    assert committed == files, "samples/pki is stale: run tools/make_test_pki.py"


def test_generation_is_deterministic_per_seed():
    assert generate_test_pki(seed=1) == generate_test_pki(seed=1)
    assert generate_test_pki(seed=1) != generate_test_pki(seed=2)


def test_test_pki_has_the_zaz1_shape():
    store = CredentialStore(PKI)
    assert store.rejected == []
    user = store.signing_credential("90-B3-D5-1F-30-01-00-00", now=NOW)
    assert user.function == "xml-sign" and user.organisational_units == ("87", "IS")
    assert user.issuer == "CN=DT1,OU=07"
    assert isinstance(user.public_key, ec.EllipticCurvePublicKey)
    assert user.public_key.curve.name == "secp256r1"
    assert str(certificate_eui(user.certificate)) == "90-B3-D5-1F-30-01-00-00"
    subject = user.certificate.subject.public_bytes()
    assert subject.endswith(bytes.fromhex("03090090b3d51f30010000"))  # BIT STRING, as ZAZ1
    assert store.dsp_signing_credential(now=NOW).function == "dsp-xml-sign"
    assert store.signing_credential("90-B3-D5-1F-30-02-00-00", "ds", now=NOW).function == "ds"
    assert [c.function for c in store.for_eui("00-DB-12-34-56-78-90-A0")] == ["ds"]
    expired = store.for_eui("90-B3-D5-1F-30-09-00-00")[0]
    assert not expired.valid_at(NOW) and expired.valid_at(dt.datetime(2020, 6, 1, tzinfo=dt.UTC))


def test_lookup_by_issuer_and_serial_ignores_spacing_and_case():
    store = CredentialStore(PKI)
    user = store.signing_credential("90-B3-D5-1F-30-01-00-00", now=NOW)
    assert store.by_issuer_serial("CN=DT1,OU=07", user.serial) is user
    assert store.by_issuer_serial(" cn=DT1 , ou=07", user.serial) is user
    assert store.by_issuer_serial("OU=07,CN=DT1", user.serial) is None  # RDN order matters
    assert store.by_issuer_serial("CN=DT1,OU=07", user.serial + 1) is None
    assert normalise_dn("2.5.4.3=Z1, 2.5.4.11=07") == normalise_dn("CN=Z1,OU=07")


def test_roles_file_wins_over_certificate_roles(tmp_path):
    generate_test_pki(tmp_path)
    assert CredentialStore(tmp_path).roles_of("90-B3-D5-1F-30-01-00-00") == {"IS"}
    (tmp_path / "roles.toml").write_text('[roles]\n"90-B3-D5-1F-30-01-00-00" = ["IS", "ES"]\n')
    assert CredentialStore(tmp_path).roles_of("90-B3-D5-1F-30-01-00-00") == {"IS", "ES"}
    (tmp_path / "roles.toml").unlink()
    store = CredentialStore(tmp_path)
    assert store.roles_of("90-B3-D5-1F-30-02-00-00") == {"GS"}  # from OU=GS
    assert store.roles_of("90-B3-D5-1F-30-00-00-02") == frozenset()
    explicit = CredentialStore(tmp_path, roles={"90B3D51F30020000": ["GT"]})
    assert explicit.roles_of("90-B3-D5-1F-30-02-00-00") == {"GT"}


def test_unknown_role_codes_are_refused(tmp_path):
    generate_test_pki(tmp_path)
    (tmp_path / "roles.toml").write_text('[roles]\n"90-B3-D5-1F-30-01-00-00" = ["XX"]\n')
    with pytest.raises(CredentialError):
        CredentialStore(tmp_path)


@pytest.mark.parametrize("text, message, path, found", [
    # each of the first three once raised AttributeError or TypeError: a traceback
    ("roles = 5", "bad roles table", "roles", "int"),
    ('[roles]\n"90-B3-D5-1F-30-01-00-00" = 5', "bad roles", "roles.90-B3-D5-1F-30-01-00-00", "5"),
    ('[roles]\n"90-B3-D5-1F-30-01-00-00" = [["IS"]]', "bad roles",
     "roles.90-B3-D5-1F-30-01-00-00", "[['IS']]"),
    # this one named no file
    ('[roles]\n"nope" = ["IS"]', "not an EUI-64", "roles.nope", "'nope'"),
])
def test_a_bad_roles_file_is_named_with_the_entry(tmp_path, text, message, path, found):
    generate_test_pki(tmp_path)
    (tmp_path / "roles.toml").write_text(text + "\n")
    with pytest.raises(CredentialError) as caught:
        CredentialStore(tmp_path)
    error = caught.value
    assert (error.message, error.source, error.path, error.found) == (
        message, str(tmp_path / "roles.toml"), path, found)


def test_keys_in_every_encoding(tmp_path):
    generate_test_pki(tmp_path)
    cert = tmp_path / "xml-sign-90B3D51F30010000.pem"
    key = load_private_key(tmp_path / "xml-sign-90B3D51F30010000.key")
    for path in tmp_path.iterdir():
        if path.name != cert.name:
            path.unlink()
    (tmp_path / "cert.der").write_bytes(load_certificate(cert).public_bytes(
        serialization.Encoding.DER))
    cert.unlink()
    encodings = {
        "pkcs8.der": (serialization.Encoding.DER, serialization.PrivateFormat.PKCS8),
        "sec1.der": (serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL),
        "sec1.pem": (serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL),
        "pkcs8.pem": (serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8),
    }
    for name, (encoding, form) in encodings.items():
        path = tmp_path / "key"
        path.write_bytes(key.private_bytes(encoding, form, serialization.NoEncryption()))
        store = CredentialStore(tmp_path)
        assert store.signing_credential("90-B3-D5-1F-30-01-00-00").private_key is not None, name
        assert load_private_key(path).private_numbers() == key.private_numbers(), name


def test_a_pem_bundle_and_unrelated_files(tmp_path):
    files = generate_test_pki()
    bundle = b"".join(data for name, data in sorted(files.items()) if name.endswith(".pem"))
    (tmp_path / "bundle.crt").write_bytes(b"some text before\n" + bundle)
    (tmp_path / "notes.txt").write_text("not a credential")
    (tmp_path / "sub").mkdir()
    store = CredentialStore(tmp_path)
    assert len(store) == 16 and all(c.private_key is None for c in store)
    with pytest.raises(NoSigningCredential):
        store.signing_credential("90-B3-D5-1F-30-01-00-00")


def test_a_certificate_not_signed_by_its_ca_is_rejected(tmp_path):
    generate_test_pki(tmp_path)
    other = generate_test_pki(seed=7)
    (tmp_path / "xml-sign-90B3D51F30010000.pem").write_bytes(
        other["xml-sign-90B3D51F30010000.pem"])
    store = CredentialStore(tmp_path)
    assert [p.name for p, _ in store.rejected] == ["xml-sign-90B3D51F30010000.pem"]
    assert store.for_eui("90-B3-D5-1F-30-01-00-00", "xml-sign") == []


def test_missing_directory():
    with pytest.raises(CredentialError):
        CredentialStore("/nonexistent/duis-store")


def test_file_loaders_name_the_problem(tmp_path):
    (tmp_path / "x").write_text("nothing")
    with pytest.raises(CredentialError):
        load_private_key(tmp_path / "x")
    with pytest.raises(CredentialError):
        load_certificate(tmp_path / "missing")


@pytest.mark.reference
def test_zaz1_set_loads():
    if not ZAZ1.is_dir():
        pytest.skip(f"reference data not available: {ZAZ1} is absent")
    store = CredentialStore(ZAZ1)
    assert store.rejected == [] and len(store) > 1
    assert all(c.private_key is not None for c in store if c.path.name !=
               "Z1-accessControlBroker-dSPXmlSign.pem")
    user = store.signing_credential("90-B3-D5-1F-30-01-00-00", now=NOW)
    assert user.path.name == "xml-sign-90B3D51F30010000-ds.pem" and user.issuer == "CN=Z1,OU=07"
    dsp = store.signing_credential("90-B3-D5-1F-30-00-00-02", "dsp-xml-sign", now=NOW)
    assert dsp.path.name == "dsp-xml-sign-90B3D51F30000002-ds.pem"  # OU=89 over legacy OU=137
    assert store.signing_credential("90-B3-D5-1F-30-01-00-00", "ds",
                                    now=dt.datetime(2020, 1, 1, tzinfo=dt.UTC)).function == "ds"
    pem_key = ZAZ1 / "dsp-xml-sign-90B3D51F30000002-ds.key.pem"
    der_key = ZAZ1 / "dsp-xml-sign-90B3D51F30000002-ds.key"
    assert load_private_key(pem_key).private_numbers() == \
        load_private_key(der_key).private_numbers()
    assert isinstance(load_certificate(ZAZ1 / "Z1-supplier-ds.pem"), x509.Certificate)


@pytest.mark.reference
def test_zaz1_with_roles_in_a_copy(tmp_path):
    if not ZAZ1.is_dir():
        pytest.skip(f"reference data not available: {ZAZ1} is absent")
    for path in ZAZ1.iterdir():
        shutil.copy(path, tmp_path / path.name)
    (tmp_path / "roles.toml").write_text('[roles]\n"90-B3-D5-1F-30-01-00-00" = ["IS", "ES"]\n')
    assert CredentialStore(tmp_path).roles_of("90-B3-D5-1F-30-01-00-00") == {"IS", "ES"}


def test_pem_blocks_are_found_in_one_pass_past_unmatched_begins():
    # a lazy pattern rescanned the rest of the file for every BEGIN without its END
    # (20 s for one 256 KiB file of them)
    from duis.signatures.credentials import _pem_blocks
    block = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"
    data = b"-----BEGIN A-----" * 2000 + b"\n" + block + b"\n-----BEGIN B-----"
    assert list(_pem_blocks(data)) == [(b"CERTIFICATE", block)]


def test_a_roles_file_nested_past_the_parser_is_refused(tmp_path):
    generate_test_pki(tmp_path)
    (tmp_path / "roles.toml").write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(CredentialError, match="TOML nested too deeply"):
        CredentialStore(tmp_path)
