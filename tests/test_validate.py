"""Validation: verdicts, full reports, the official-schema option, and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from duis.cli import main
from duis.messages import build, leaf, node, request
from duis.schema import INVALID, NOT_COVERED, UNUSABLE, VALID, load_schema, validate

ROOT = Path(__file__).resolve().parents[1]
SUPPLIER = "90-B3-D5-1F-30-01-00-00"
ESME = "00-DB-12-34-56-78-90-A0"


def good_request() -> bytes:
    return build(request(SUPPLIER, ESME, 1001, "11.3",
                         node("ActivateFirmware", leaf("FirmwareHash", "AB" * 32))))


def three_errors() -> bytes:
    """RequestID pattern broken, CommandVariant missing, FirmwareHash not hex."""
    return (good_request()
            .replace(b":1001<", b":01001<")
            .replace(b"<sr:CommandVariant>4</sr:CommandVariant>", b"")
            .replace(b"<sr:FirmwareHash>AB", b"<sr:FirmwareHash>ZZ"))


def test_valid_document(bundled_schema):
    report = validate(good_request(), bundled_schema)
    assert (report.verdict, report.issues, report.exit_code) == (VALID, (), 0)
    assert report.service_reference_variant == "11.3"


def test_report_lists_every_error_with_line_xpath_expected_found(bundled_schema):
    report = validate(three_errors(), bundled_schema)
    assert report.verdict == INVALID and report.exit_code == 1
    by_path = {issue.path: issue for issue in report.issues}
    assert set(by_path) == {"/sr:Request/sr:Header/sr:RequestID", "/sr:Request/sr:Header",
                            "/sr:Request/sr:Body/sr:ActivateFirmware/sr:FirmwareHash"}
    rid = by_path["/sr:Request/sr:Header/sr:RequestID"]
    assert rid.line == 4 and "pattern" in rid.reason and "01001" in rid.found
    order = by_path["/sr:Request/sr:Header"]
    assert order.expected == "sr:CommandVariant" and order.found == "<sr:ServiceReference>"
    digest = by_path["/sr:Request/sr:Body/sr:ActivateFirmware/sr:FirmwareHash"]
    assert digest.line == 11 and digest.found.startswith("ZZ")  # the value, not a repr
    text = report.render()
    assert "3 problems" in text and "expected:" in text and "found:" in text


def test_not_covered_points_to_the_official_schema(bundled_schema):
    data = good_request().replace(b">11.3<", b">4.1.1<")
    report = validate(data, bundled_schema)
    assert report.verdict == NOT_COVERED
    assert "--schema-dir" in report.issues[0].reason
    assert "DUIS_SCHEMA_DIR" in report.issues[0].reason


SR_NS = 'xmlns:sr="http://www.dccinterface.co.uk/ServiceUserGateway"'


@pytest.mark.parametrize("header", [
    "<sr:Header><sr:ServiceReferenceVariant>4.1.1</sr:ServiceReferenceVariant></sr:Header>",
    "<sr:Header><sr:ServiceReferenceVariant>4.1<!-- c -->.1</sr:ServiceReferenceVariant>"
    "</sr:Header>",
    "<sr:Header><sr:ServiceReferenceVariant>4<x>9</x>.1</sr:ServiceReferenceVariant></sr:Header>",
    "<sr:Header><sr:ServiceReferenceVariant><![CDATA[4.1.1]]></sr:ServiceReferenceVariant>"
    "</sr:Header>",
    "<sr:Header/><sr:Header><sr:ServiceReferenceVariant>4.1.1</sr:ServiceReferenceVariant>"
    "</sr:Header>",
    "<sr:Header><sr:ServiceReferenceVariant/><sr:ServiceReferenceVariant>4.1.1"
    "</sr:ServiceReferenceVariant></sr:Header>",
    "<sr:Header><sr:ServiceReferenceVariant> 11.3 </sr:ServiceReferenceVariant></sr:Header>",
    "<sr:Header></sr:Header>", "",
], ids=["plain", "comment", "child", "cdata", "second-header", "two", "spaces", "none",
        "no-header"])
def test_the_variant_is_read_as_the_xpath_reads_it(header):
    """Validation reads a request's ServiceReferenceVariant without XPath where it
    can: whatever the document, the same text as string(sr:Header/sr:...)."""
    from lxml import etree

    from duis.schema.validate import _SRV_PATH, _variant
    root = etree.fromstring(f"<sr:Request {SR_NS}>{header}<sr:Body/></sr:Request>")
    assert _variant(root) == _SRV_PATH(root)


def test_unusable_input_is_a_verdict_not_an_exception(bundled_schema):
    report = validate(b"<a><b>", bundled_schema)
    assert report.verdict == UNUSABLE and report.exit_code == 2
    assert "MalformedXML" in report.issues[0].reason


@pytest.mark.reference
def test_official_schema_directory_with_spaces_is_used_as_published(official_schema_dir):
    schema = load_schema(official_schema_dir)
    assert "DUIS Schema V5.4.xsd" == schema.main_file.name
    assert schema.covered is None
    report = validate(good_request().replace(b">11.3<", b">4.1.1<"), schema)
    assert report.verdict == INVALID  # the official schema covers 4.1.1: judged, not refused
    assert validate(good_request(), schema).valid


def test_missing_schema_dir_is_a_clear_usage_error(tmp_path, capsys):
    (tmp_path / "r.xml").write_bytes(good_request())
    code = main(["validate", "--schema-dir", str(tmp_path / "nope"), str(tmp_path / "r.xml")])
    assert code == 2
    assert "schema directory not found" in capsys.readouterr().err


# --- the CLI ----------------------------------------------------------------

@pytest.fixture
def batch(tmp_path):
    files = {"good.xml": good_request(), "bad.xml": three_errors(),
             "uncovered.xml": good_request().replace(b">11.3<", b">4.1.1<")}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    return tmp_path


def test_cli_exit_codes(batch, capsys):
    assert main(["validate", str(batch / "good.xml")]) == 0
    assert main(["validate", str(batch / "bad.xml")]) == 1
    assert main(["validate", str(batch / "uncovered.xml")]) == 1
    (batch / "junk.xml").write_bytes(b"\x00\x01junk")
    assert main(["validate", str(batch / "junk.xml")]) == 2
    assert main(["validate", str(batch / "missing.xml")]) == 2


def test_cli_summary_line_for_many_files(batch, capsys):
    assert main(["validate", str(batch)]) == 1
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == "3 files: 1 valid, 1 invalid, 1 not covered, 0 unusable"


def test_cli_json_report(batch, capsys):
    main(["validate", "--json", str(batch / "good.xml"), str(batch / "bad.xml")])
    report = json.loads(capsys.readouterr().out)
    assert report["summary"] == {"valid": 1, "invalid": 1, "not-covered": 0, "unusable": 0}
    bad = next(r for r in report["results"] if r["source"].endswith("bad.xml"))
    assert {"line", "path", "reason", "expected", "found"} <= set(bad["issues"][0])


def test_cli_reads_stdin():
    result = subprocess.run([sys.executable, "-m", "duis.cli", "validate", "-"],
                            input=good_request(), capture_output=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert b"<stdin>: valid" in result.stdout


def test_cli_progress_on_request(batch, capsys):
    main(["validate", "--progress", str(batch)])
    assert "3/3 files" in capsys.readouterr().err


def test_inspect_summarises_who_what_whom(batch, capsys):
    assert main(["inspect", str(batch / "good.xml")]) == 0
    out = capsys.readouterr().out
    assert f"from:            {SUPPLIER} (originator, a DCC user)" in out
    assert f"to:              {ESME} (target)" in out
    assert "service:         11.3 Activate Firmware" in out
    assert "command variant: 4: critical request" in out
    assert "schema:          valid (bundled)" in out


def test_inspect_json(batch, capsys):
    main(["inspect", "--json", str(batch / "good.xml")])
    facts = json.loads(capsys.readouterr().out)
    assert facts["counter"] == 1001 and facts["service_kind"] == "critical device command"


def test_unknown_variant_is_invalid_not_uncovered(bundled_schema):
    report = validate(good_request().replace(b">11.3</sr:ServiceReferenceVariant>",
                                             b">11.3.1</sr:ServiceReferenceVariant>"),
                      bundled_schema)
    assert report.verdict == INVALID
    assert report.issues[0].path == "/sr:Request/sr:Header/sr:ServiceReferenceVariant"


def test_an_empty_or_mistyped_folder_is_an_error_not_a_pass(tmp_path, capsys):
    from duis.cli import main
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not XML")
    assert main(["validate", str(empty)]) == 2
    assert "no XML files found" in capsys.readouterr().err
    assert main(["validate", "--json", str(empty)]) == 2
    assert main(["validate", str(tmp_path / "mistyped")]) == 2   # unreadable: unusable
    assert main(["validate", "--allow-empty", "--json", str(empty)]) == 0
    assert '"files": 0' in capsys.readouterr().out


# --- the schema folder: import locations, as libxml2 needs them ----------------

@pytest.mark.parametrize("location", [
    "MMC Schema V5.4.xsd", "xmldsig.xsd", "sub dir/a b.xsd", "é ü/日本.xsd", "a%20b.xsd",
    "~a_b-c.d/e", "a?b#c&d=e;f,g", "http://example.com/x.xsd", "file:///a b.xsd",
    "C:/x.xsd", "1abc:x", "a b:c", "a+b.c-d:x", ":x", "x:", " http://x", "-a:b"])
def test_import_locations_are_encoded_as_urllib_would(location):
    # duis encodes them without importing urllib.parse (which a `duis validate`
    # would pay for at each call): the same locations as urllib's quote and
    # urlparse give, case by case
    import urllib.parse

    from duis.schema.loader import _SCHEME, _encoded
    assert bool(_SCHEME.match(location)) == bool(urllib.parse.urlparse(location).scheme)
    assert _encoded(location) == urllib.parse.quote(location)


def test_a_schema_folder_whose_file_names_hold_spaces_and_accents(tmp_path):
    from duis.schema.loader import bundled_dir
    folder = tmp_path / "DUIS 5.4 schémas"
    folder.mkdir()
    for path in bundled_dir().glob("*.xsd"):
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "mmc.xsd").rename(folder / "MMC Schéma V5.4.xsd")
    main = folder / "duis.xsd"
    main.write_text(main.read_text().replace('schemaLocation="mmc.xsd"',
                                             'schemaLocation="MMC Schéma V5.4.xsd"'))
    schema = load_schema(folder)
    assert schema.main_file == main and schema.main_path == str(main)
    assert validate(good_request(), schema).verdict == VALID
    assert validate(three_errors(), schema).verdict == INVALID
    # the MMC schema, imported under its new name, was found: an MMC document is valid
    mmc = ROOT / "samples" / "messages" / "valid" / "CS06_11.3_activate_firmware_mmc.xml"
    assert validate(mmc, schema).verdict == VALID
    assert main.read_text().count("MMC Schéma V5.4.xsd") == 1  # the file is untouched


def test_the_bundled_main_file_is_read_once_for_its_coverage_and_compiling(monkeypatch):
    from lxml import etree

    from duis.schema import loader
    monkeypatch.setattr(loader, "_CACHE", {})
    read = []
    parse = etree.parse

    def counted(source, *args, **kwargs):
        read.append(Path(source).name)
        return parse(source, *args, **kwargs)

    monkeypatch.setattr(loader.etree, "parse", counted)
    schema = load_schema()
    assert schema.covered is not None and "11.3" in schema.covered
    assert validate(good_request(), schema).verdict == VALID  # compiled
    assert read == ["duis.xsd"]


# --- a schema folder of the user's: self-contained and plain, or refused ---------------------
# (found by an attack: an import from http:// was fetched by the detailed report; an
# external entity in an imported file was read by libxml2; a FIFO hung the command)

def _schema_folder(tmp_path: Path, edit=None) -> Path:
    folder = tmp_path / "schema"
    folder.mkdir()
    for name in ("duis.xsd", "mmc.xsd", "xmldsig.xsd"):
        (folder / name).write_bytes((ROOT / "xsd" / name).read_bytes())
    if edit is not None:
        edit(folder)
    return folder


def _edit(name: str, old: bytes, new: bytes):
    def apply(folder: Path) -> None:
        path = folder / name
        text = path.read_bytes()
        assert old in text, old
        path.write_bytes(text.replace(old, new, 1))
    return apply


_FIRST_IMPORT = b"<xs:import "
_REMOTE = (b'<xs:import namespace="urn:evil" schemaLocation="http://127.0.0.1:9/evil.xsd"/>'
           b'<xs:import ')


@pytest.mark.parametrize("edit, why", [
    (_edit("duis.xsd", _FIRST_IMPORT, _REMOTE), "schema import from elsewhere"),
    (_edit("xmldsig.xsd", b"<xs:schema", b'<!DOCTYPE xs:schema [<!ENTITY x SYSTEM '
           b'"file:///etc/hostname">]><xs:schema'), "external entity in a schema file"),
], ids=["http-import", "external-entity"])
def test_a_schema_folder_reaching_elsewhere_is_refused(tmp_path, capsys, edit, why):
    folder = _schema_folder(tmp_path, edit)
    bad = ROOT / "samples/messages/invalid"
    sample = next(p for p in sorted(bad.glob("*.xml")))
    assert main(["validate", "--schema-dir", str(folder), str(sample)]) == 2
    assert why in capsys.readouterr().err


def test_a_schema_file_that_is_not_a_regular_file_is_refused(tmp_path, capsys):
    import os
    folder = tmp_path / "schema"
    folder.mkdir()
    os.mkfifo(folder / "DUIS Schema V5.4.xsd")
    sample = ROOT / "samples/messages/valid/ECS52_11.2_read_firmware_version_request.xml"
    assert main(["validate", "--schema-dir", str(folder), str(sample)]) == 2
    assert "not a regular file" in capsys.readouterr().err


def test_a_plain_copy_of_the_schema_still_validates(tmp_path):
    folder = _schema_folder(tmp_path)
    sample = ROOT / "samples/messages/valid/ECS52_11.2_read_firmware_version_request.xml"
    assert main(["validate", "--schema-dir", str(folder), str(sample)]) == 0
