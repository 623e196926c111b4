"""The one safe entry point refuses hostile XML, names what it refused, and
touches neither the file system nor the network."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from duis.errors import (
    DTDForbidden,
    EncodingNotAllowed,
    EntitiesForbidden,
    ExternalReferenceForbidden,
    InputTooLarge,
    MalformedXML,
    NestingTooDeep,
    TooManyNodes,
    UnreadableInput,
    UnsafeXML,
)
from duis.xmlparse import ParseLimits, parse_bytes, parse_xml

ROOT = Path(__file__).resolve().parents[1]

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
]>
<sr:Request xmlns:sr="http://www.dccinterface.co.uk/ServiceUserGateway">&lol9;</sr:Request>"""


class _Listener:
    """A loopback TCP listener that records whether anybody connected."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(5)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
                self.connections += 1
                conn.close()
            except OSError:
                pass

    def close(self) -> None:
        self._stop = True
        self.thread.join()
        self.sock.close()


@pytest.fixture
def listener():
    server = _Listener()
    yield server
    server.close()


def test_well_formed_document_parses():
    tree = parse_bytes(b'<a xmlns="urn:x"><b>1</b></a>')
    assert tree.getroot().tag == "{urn:x}a"


def test_billion_laughs_is_refused_as_entities():
    with pytest.raises(EntitiesForbidden) as caught:
        parse_bytes(BILLION_LAUGHS, "bomb.xml")
    assert "bomb.xml" in str(caught.value)
    assert "entity" in str(caught.value)


def test_xxe_file_entity_does_not_read_the_file(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE")
    doc = (f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file://{secret}">]>'
           f'<r>&x;</r>').encode()
    with pytest.raises(EntitiesForbidden) as caught:
        parse_bytes(doc)
    assert "TOP-SECRET-VALUE" not in str(caught.value)


def test_xxe_network_entity_makes_no_connection(listener):
    doc = (f'<!DOCTYPE r [<!ENTITY x SYSTEM "http://127.0.0.1:{listener.port}/x">]>'
           f'<r>&x;</r>').encode()
    with pytest.raises(UnsafeXML):
        parse_bytes(doc)
    assert listener.connections == 0


def test_external_dtd_is_refused_without_network(listener):
    doc = f'<!DOCTYPE r SYSTEM "http://127.0.0.1:{listener.port}/r.dtd"><r/>'.encode()
    with pytest.raises((DTDForbidden, ExternalReferenceForbidden)) as caught:
        parse_bytes(doc)
    assert listener.connections == 0
    assert "r.dtd" in str(caught.value) or "DOCTYPE" in str(caught.value)


def test_plain_internal_doctype_is_refused():
    with pytest.raises(DTDForbidden):
        parse_bytes(b"<!DOCTYPE r><r/>")


@pytest.mark.reference
def test_reference_xxe_sample_is_refused(corpus_dir):
    with pytest.raises(EntitiesForbidden):
        parse_xml(corpus_dir / "signed" / "duis-xxe.xml")


def test_oversized_file_is_refused_before_reading(tmp_path):
    big = tmp_path / "big.xml"
    with open(big, "wb") as handle:
        handle.truncate(200 * 1024 * 1024)  # sparse: 200 MB without writing them
    with pytest.raises(InputTooLarge) as caught:
        parse_xml(big)
    assert "209715200 bytes" in str(caught.value)
    assert str(big) in str(caught.value)


def test_oversized_stream_is_refused_with_a_bounded_read():
    stream = io.BytesIO(b"<r>" + b"x" * 2000 + b"</r>")
    with pytest.raises(InputTooLarge):
        parse_xml(stream, ParseLimits(max_bytes=1000))
    assert stream.tell() == 1001


def test_deep_nesting_is_refused():
    doc = b"<a>" * 100_000 + b"</a>" * 100_000
    with pytest.raises(NestingTooDeep) as caught:
        parse_bytes(doc, "deep.xml")
    assert "deep.xml" in str(caught.value)


def test_configured_depth_cap_is_applied_and_named():
    doc = b"<a><b><c><d><e/></d></c></b></a>"
    parse_bytes(doc, limits=ParseLimits(max_depth=5))
    with pytest.raises(NestingTooDeep) as caught:
        parse_bytes(doc, limits=ParseLimits(max_depth=4))
    assert caught.value.path == "/a/b/c/d/e"
    assert "at most 4 levels" in str(caught.value)


@pytest.mark.parametrize("data", [
    b"<!DOCTYPE r><r/>",
    b"\xef\xbb\xbf" + b"<!DOCTYPE r><r/>",
    b'<?xml version="1.0" encoding="utf-8"?>\n<!-- <!DOCTYPE --><!DOCTYPE r><r/>',
    b'<?xml version="1.0" encoding="UTF8"?><!DOCTYPE r SYSTEM "r.dtd"><r/>',
], ids=["utf-8", "utf-8 with BOM", "after a comment", "external subset"])
def test_a_document_type_declaration_is_refused(data):
    with pytest.raises((DTDForbidden, ExternalReferenceForbidden)):
        parse_bytes(data)


def _utf7(text: str) -> bytes:
    return b'<?xml version="1.0" encoding="UTF-7"?>' + text.encode("utf-7")


@pytest.mark.parametrize("data, found", [
    ('<?xml version="1.0" encoding="utf-16"?><r/>'.encode("utf-16"), "utf-16"),
    ('<?xml version="1.0" encoding="utf-16-le"?><r/>'.encode("utf-16-le"), "UTF-16"),
    ('<?xml version="1.0" encoding="iso-8859-1"?><r>\u00e9</r>'.encode("iso-8859-1"),
     "iso-8859-1"),
    (b'<?xml version="1.0" encoding="US-ASCII"?><r/>', "US-ASCII"),
    (b'<?xml version="1.0" encoding="windows-1252"?><r/>', "windows-1252"),
    ("<r/>".encode("utf-32"), "UTF-32"),
    # UTF-7 hides markup from any byte scan: "<!DOCTYPE" is written "+ADwAIQ-DOCTYPE"
    (_utf7('<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>'), "UTF-7"),
    (_utf7("<a>" * 200 + "</a>" * 200), "UTF-7"),
], ids=["utf-16", "utf-16-le", "latin-1", "us-ascii", "cp1252", "utf-32",
        "utf-7 dtd", "utf-7 deep"])
def test_every_encoding_but_utf8_is_refused_by_name(data, found):
    """What libxml2 decoded with decides, not a scan of the bytes: a DTD or a deep
    tree in another encoding never gets past the parser."""
    with pytest.raises(EncodingNotAllowed) as caught:
        parse_bytes(data, "odd.xml")
    assert caught.value.found.upper().startswith(found.upper())
    assert caught.value.expected == "UTF-8" and caught.value.source == "odd.xml"


@pytest.mark.parametrize("data", [
    b'<?xml version="1.0" encoding="UTF-8"?><r/>', b'<?xml version="1.0" encoding="utf-8"?><r/>',
    b'<?xml version="1.0" encoding="utf8"?><r/>', b"\xef\xbb\xbf<r/>", b"<r/>",
    b"<?xml version='1.0'?><r/>",
])
def test_utf8_in_every_spelling_is_accepted(data):
    assert parse_bytes(data).getroot().tag == "r"


def test_the_dtd_refusal_names_the_declaration_not_the_root():
    doc = (b'<!DOCTYPE lolz [<!ENTITY a "x"><!ENTITY b "&a;&a;">]>'
           b'<sr:Request xmlns:sr="http://www.dccinterface.co.uk/ServiceUserGateway"/>')
    with pytest.raises(EntitiesForbidden) as caught:
        parse_bytes(doc)
    assert caught.value.found.startswith("<!DOCTYPE lolz")
    assert "2 entity declaration(s): a, b" in caught.value.found
    assert "Request" not in caught.value.found


def test_depth_cap_holds_just_above_and_at_the_cap():
    """Small documents skip the depth walk when they hold no more elements than
    the cap (counted by their ``<`` bytes): one level too many is still refused."""
    def nested(depth):
        return ("<a>" * (depth - 1) + "<b/>" + "</a>" * (depth - 1)).encode()
    limits = ParseLimits(max_depth=6)
    parse_bytes(nested(6), limits=limits)
    with pytest.raises(NestingTooDeep):
        parse_bytes(nested(7), limits=limits)
    with pytest.raises(NestingTooDeep):
        parse_bytes(b"\xef\xbb\xbf" + nested(7), limits=limits)


@pytest.mark.parametrize("data, fragment", [
    (b'<?xml version="1.0"?><r><child>', "not well-formed"),
    (bytes(range(256)) * 4, "binary"),
    (b"", "empty"),
    (b"just text", "not well-formed"),
])
def test_junk_is_refused_as_malformed(data, fragment):
    with pytest.raises(MalformedXML) as caught:
        parse_bytes(data, "junk.xml")
    assert fragment in str(caught.value)
    assert "junk.xml" in str(caught.value)


def test_large_image_within_default_cap_parses():
    image = b"QUJD" * 2_560_000  # 10,240,000 base64 characters, an 11.1 maximum image
    tree = parse_bytes(b"<r><img>" + image + b"</img></r>")
    assert len(tree.getroot()[0].text) == 10_240_000


_MEMORY_PROBE = r"""
import json, sys
from pathlib import Path
from duis.schema import validate
verdicts = {}
for path in sys.argv[1:]:
    verdicts[Path(path).name] = validate(path).verdict
# VmHWM belongs to this process image only (ru_maxrss can carry the parent's peak)
peak = next(int(line.split()[1]) for line in open("/proc/self/status")
            if line.startswith("VmHWM:"))
print(json.dumps({"verdicts": verdicts, "max_rss_kb": peak}))
"""


def test_hostile_inputs_stay_within_300_mb(tmp_path):
    """Every hostile input in one process: refused, and the peak memory bounded."""
    files = {
        "bomb.xml": BILLION_LAUGHS,
        "external.xml": b'<!DOCTYPE r SYSTEM "http://127.0.0.1:9/r.dtd"><r/>',
        "deep.xml": b"<a>" * 100_000 + b"</a>" * 100_000,
        "truncated.xml": b'<?xml version="1.0"?><sr:Request xmlns:sr="x"><sr:Header>',
        "junk.bin": bytes(range(256)) * 64,
        "wrong-root.xml": b'<html xmlns="http://www.w3.org/1999/xhtml"><body/></html>',
    }
    paths = []
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        paths.append(str(tmp_path / name))
    huge = tmp_path / "huge.xml"
    with open(huge, "wb") as handle:
        handle.write(b"<r>")
        chunk = b"A" * (1024 * 1024)
        for _ in range(200):
            handle.write(chunk)
        handle.write(b"</r>")
    paths.append(str(huge))
    result = subprocess.run([sys.executable, "-c", _MEMORY_PROBE, *paths], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report["verdicts"].values()) == {"unusable"}, report["verdicts"]
    assert report["max_rss_kb"] < 300 * 1024, report


def test_the_node_cap_counts_elements_and_attributes_before_parsing():
    limits = ParseLimits(max_nodes=7)
    parse_bytes(b'<r a="1"><b c="2"/><d/></r>', limits=limits)       # 4 '<' and 2 '='
    parse_bytes(b'<r a="1" e="5"><b c="2"/><d/></r>', limits=limits)  # 4 '<' and 3 '='
    with pytest.raises(TooManyNodes) as caught:
        parse_bytes(b'<r a="1" e="5"><b c="2"/><d/><f/></r>', "many.xml", limits=limits)
    assert (caught.value.source, caught.value.found) == ("many.xml", "8")
    assert "at most 7" in caught.value.expected


def test_the_default_node_cap_admits_the_largest_duis_request():
    """An 11.1 for 50,000 devices (the DUIS maximum) parses; 10 times more nodes do not."""
    ids = "".join(f"<sr:DeviceID>00-DB-12-34-56-{i >> 8 & 255:02X}-{i & 255:02X}-00</sr:DeviceID>"
                  for i in range(50_000))
    doc = f'<sr:Request xmlns:sr="urn:sr" schemaVersion="5.4"><sr:L>{ids}</sr:L></sr:Request>'
    assert len(parse_bytes(doc.encode()).getroot()[0]) == 50_000
    with pytest.raises(TooManyNodes):
        parse_bytes(b"<r>" + b"<x/>" * 500_000 + b"</r>")


@pytest.mark.parametrize("value", ["lots", "-1", "0", "1e9", "\u0661"])
def test_a_bad_limit_in_the_environment_is_named(monkeypatch, value):
    monkeypatch.setenv("DUIS_MAX_NODES", value)
    with pytest.raises(UnreadableInput) as caught:
        ParseLimits.from_env()
    assert caught.value.source == "$DUIS_MAX_NODES"
