"""``duis serve`` answers DCC Boxed's SMKI certificate look-ups, over HTTP, as the DCC's
key store client asks them: search by EUI-64 (device: subjectAltName; organisation:
subject name), keep the results of the wanted usage, status and role, then retrieve each
by its serial number (hex)."""

from __future__ import annotations

import base64
import http.client
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from duis.cli import main
from duis.gbcs.wire.certificates import certificate_eui, party_keys
from duis.messages.ids import EUI64
from duis.serve import ServeConfig, ServerThread
from duis.signatures import CredentialStore

ROOT = Path(__file__).resolve().parents[1]
WORLD = ROOT / "samples" / "worlds" / "default.toml"
SUPPLIER, EXPIRED, DSP = ("90-B3-D5-1F-30-01-00-00", "90-B3-D5-1F-30-09-00-00",
                          "90-B3-D5-1F-30-00-00-02")
ESME, GSME = "00-DB-12-34-56-78-90-A0", "00-DB-12-34-56-78-90-A2"
APIKEY = "u3bg9gt38htd0j2"


@pytest.fixture(scope="module")
def server():
    with ServerThread(ServeConfig(port=0, smki_port=0, workers=0)) as running:
        yield running


def post(port: int, path: str, body: str, host: str = "127.0.0.1") -> tuple[int, str, bytes]:
    connection = http.client.HTTPConnection(host, port, timeout=30)
    try:
        connection.request("POST", f"{path}?apikey={APIKEY}", body=body.encode(),
                           headers={"content-type": "application/xml"})
        reply = connection.getresponse()
        return reply.status, reply.getheader("content-type", ""), reply.read()
    finally:
        connection.close()


def request(name: str, field: str, value: str) -> str:
    """A request body as the client's XML builder writes it."""
    return f'<?xml version="1.0" encoding="utf-8"?><{name}><{field}>{value}</{field}></{name}>'


def boxed(eui: str) -> str:
    """An EUI-64 as the client writes it: lower case, dashes."""
    return eui.lower()


def port_of(server) -> int:
    return urlsplit(server.url).port


def search(port: int, eui: str, *, device: bool) -> list[dict[str, str]]:
    field = "CertificateSubjectAltName" if device else "CertificateSubjectName"
    status, ctype, body = post(port, "/services/certificatesearch",
                               request("CertificateSearchRequest", field, boxed(eui)))
    if status == 402:
        return []
    assert status == 200 and ctype.startswith("application/xml"), (status, body)
    root = ET.fromstring(body)
    assert root.tag == "CertificateSearchResponse"
    return [{child.tag: child.text for child in result} for result in root.findall("Result")]


def retrieve(port: int, serial: str) -> tuple[x509.Certificate, dict[str, str]]:
    status, ctype, body = post(port, "/services/retrievecertificate",
                               request("CertificateDataRequest", "CertificateSerial", serial))
    assert status == 200 and ctype.startswith("application/xml"), (status, body)
    response = ET.fromstring(body).find("CertificateResponse")
    fields = {child.tag: child.text for child in response}
    # the client puts the body between PEM armour lines
    pem = f"-----BEGIN CERTIFICATE-----\n{fields['CertificateBody']}\n-----END CERTIFICATE-----"
    return x509.load_pem_x509_certificate(pem.encode()), fields


def lookup(port: int, eui: str, usage: str, *, device: bool,
           role: str | None = None) -> list[x509.Certificate]:
    """The client's search: keep usage, status "I" (and role), then retrieve each."""
    return [retrieve(port, r["CertificateSerial"])[0] for r in search(port, eui, device=device)
            if r["CertificateUsage"] == usage and r["CertificateStatus"] == "I"
            and (role is None or r.get("CertificateRole") == role)]


def _public(cert) -> tuple:
    return cert.public_key().public_numbers()


def test_a_client_finds_an_emulated_devices_certificates(server):
    port = port_of(server)
    results = search(port, ESME, device=True)
    assert sorted(r["CertificateUsage"] for r in results) == ["DS", "KA"]
    assert all(r["CertificateStatus"] == "I" and "CertificateRole" not in r for r in results)
    (ka,) = lookup(port, ESME, "KA", device=True)
    (ds,) = lookup(port, ESME, "DS", device=True)
    assert _public(ka) == party_keys(ESME).ka.public_key().public_numbers()
    assert _public(ds) == party_keys(ESME).ds.public_key().public_numbers()
    assert ka.subject == x509.Name([]) and certificate_eui(ka) == EUI64.parse(ESME)
    _, fields = retrieve(port, results[0]["CertificateSerial"])
    assert fields["CertificateSubjectAltName"] == boxed(ESME)
    assert "CertificateSubjectName" not in fields


def test_the_certificates_are_those_export_devices_writes(server, tmp_path):
    assert main(["pki", "export-devices", "--out", str(tmp_path)]) == 0
    port = port_of(server)
    for usage in ("ka", "ds"):
        (found,) = lookup(port, GSME, usage.upper(), device=True)
        written = x509.load_pem_x509_certificate(
            (tmp_path / f"{EUI64.parse(GSME).compact.lower()}-{usage}.pem").read_bytes())
        assert found.public_bytes(serialization.Encoding.DER) == \
            written.public_bytes(serialization.Encoding.DER)


def test_a_client_finds_users_and_the_acb(server):
    port = port_of(server)
    store = CredentialStore()
    results = {(r["CertificateUsage"], r["CertificateRole"]) for r in
               search(port, SUPPLIER, device=False)}
    assert results == {("DS", "135"), ("DS", "2"), ("KA", "2")}  # XML signing, GBCS ds, ka
    (ka,) = lookup(port, SUPPLIER, "KA", device=False, role="2")
    assert _public(ka) == store.key_agreement(SUPPLIER).public_key.public_numbers()
    _, fields = retrieve(port, format(ka.serial_number, "x"))
    assert fields["CertificateSubjectName"] == boxed(SUPPLIER)
    acb = {(r["CertificateUsage"], r["CertificateRole"]) for r in search(port, DSP, device=False)}
    assert acb == {("DS", "137"), ("KA", "4"), ("DS", "4")}
    (acb_ka,) = lookup(port, DSP, "KA", device=False, role="4")
    assert _public(acb_ka) == store.key_agreement(DSP).public_key.public_numbers()


def test_a_search_may_name_usage_status_and_role(server):
    port = port_of(server)

    def results(*filters: str) -> set[tuple[str, str]]:
        body = ("<CertificateSearchRequest><CertificateSubjectName>" + boxed(SUPPLIER)
                + "</CertificateSubjectName>" + "".join(filters)
                + "</CertificateSearchRequest>")
        status, _, reply = post(port, "/services/certificatesearch", body)
        if status == 402:
            return set()
        assert status == 200, reply
        return {(r.find("CertificateUsage").text, r.find("CertificateRole").text)
                for r in ET.fromstring(reply).findall("Result")}

    assert results("<CertificateUsage>KA</CertificateUsage>") == {("KA", "2")}
    assert results("<CertificateUsage>DS</CertificateUsage>",
                   "<CertificateRole>135</CertificateRole>") == {("DS", "135")}
    assert results("<CertificateStatus>E</CertificateStatus>") == set()
    status, _, reply = post(port, "/services/certificatesearch",
                            "<CertificateSearchRequest><CertificateSubjectName>"
                            + boxed(SUPPLIER) + "</CertificateSubjectName><CertificateUsage>XX"
                            "</CertificateUsage></CertificateSearchRequest>")
    assert status == 401 and b"CertificateUsage 'XX' is not one DCC Boxed uses" in reply


def test_an_expired_certificate_is_listed_as_expired(server):
    (result,) = search(port_of(server), EXPIRED, device=False)
    assert result["CertificateStatus"] == "E"
    assert lookup(port_of(server), EXPIRED, "DS", device=False) == []


def test_nothing_known_is_402(server):
    port = port_of(server)
    assert search(port, "00-DB-12-34-56-78-FF-FF", device=True) == []
    assert search(port, SUPPLIER, device=True) == []      # a user is not a device
    assert search(port, GSME, device=False) == []         # nor the reverse (no org certificate)
    status, _, body = post(port, "/services/retrievecertificate",
                           request("CertificateDataRequest", "CertificateSerial", "abc123"))
    assert status == 402 and b"no certificate with serial abc123" in body


@pytest.mark.parametrize(("path", "body", "status", "says"), [
    ("/services/certificatesearch", "not xml", 400, b"not well-formed"),
    ("/services/certificatesearch", "<Other/>", 401, b"expected <CertificateSearchRequest>"),
    ("/services/certificatesearch",
     request("CertificateSearchRequest", "CertificateSubjectAltName", "00-db"), 401,
     b"holding an EUI-64, found '00-db'"),
    ("/services/certificatesearch", "<CertificateSearchRequest/>", 401, b"found neither"),
    ("/services/retrievecertificate",
     request("CertificateDataRequest", "CertificateSerial", "xyz"), 401,
     b"CertificateSerial in hex, found 'xyz'"),
    ("/services/retrievecertificate", "<CertificateDataRequest>" + "A" * 5000
     + "</CertificateDataRequest>", 413, b"at most 4096 bytes"),
])
def test_unusable_requests_are_refused(server, path, body, status, says):
    got, _, reply = post(port_of(server), path, body)
    assert got == status and says in reply, reply


def test_the_smki_port_answers_too(server):
    smki = server.server.smki_port
    assert smki and smki != port_of(server)
    assert sorted(r["CertificateUsage"] for r in search(smki, ESME, device=True)) == ["DS", "KA"]


def test_a_retrieve_needs_no_search_first():
    with ServerThread(ServeConfig(port=0, workers=0)) as fresh:
        from duis.gbcs.wire.certificates import certificate_serial
        cert, fields = retrieve(port_of(fresh), format(certificate_serial(GSME, "ds"), "x"))
        assert _public(cert) == party_keys(GSME).ds.public_key().public_numbers()
        assert fields["CertificateSubjectAltName"] == boxed(GSME)


def test_a_teams_store_device_certificates_win(tmp_path):
    store = tmp_path / "team"
    assert main(["pki", "init", str(store), "--user", f"{SUPPLIER}:IS", "--device", ESME,
                 "--seed", "7"]) == 0
    with ServerThread(ServeConfig(port=0, workers=0, world=WORLD, store=store)) as running:
        (ka,) = lookup(port_of(running), ESME, "KA", device=True)
        assert _public(ka) == party_keys(ESME, 7).ka.public_key().public_numbers()
        assert _public(ka) != party_keys(ESME).ka.public_key().public_numbers()


def test_the_command_line_option():
    from duis.cli import build_parser
    from duis.commands.serve import config_from
    args = build_parser("serve").parse_args(["serve", "--smki-port", "8083"])
    assert config_from(args).smki_port == 8083
    assert config_from(build_parser("serve").parse_args(["serve"])).smki_port is None


def test_the_response_body_is_base64_der(server):
    (result, *_) = search(port_of(server), ESME, device=True)
    status, _, body = post(port_of(server), "/services/retrievecertificate",
                           request("CertificateDataRequest", "CertificateSerial",
                                   result["CertificateSerial"].upper()))
    assert status == 200
    text = ET.fromstring(body).find("CertificateResponse/CertificateBody").text
    cert = x509.load_der_x509_certificate(base64.b64decode(text, validate=True))
    assert format(cert.serial_number, "x") == result["CertificateSerial"]
