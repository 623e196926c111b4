"""Acceptance tests: the bundled schemas (xsd/) say what the official DUIS 5.4
schemas say, for everything they cover.

Four kinds of evidence:

1. the real request templates and signed messages of the reference corpus get
   the same verdict from both schemas (uncovered service requests must be
   valid officially and absent from the bundled coverage set);
2. generated mutations of every covered corpus request (missing mandatory
   element, bad enumeration, bad RequestID, elements out of order, wrong
   namespace, missing schemaVersion, unknown element) are rejected by both;
3. a structural comparison (with the ``xmlschema`` library) of every element
   the bundled schemas declare against its official counterpart: names,
   order, occurrences, attributes, facets and enumerations; choices may only
   be narrowed at the documented places;
4. the hand-written samples in samples/messages get the verdict their
   MANIFEST.toml promises, from both schemas.

Every test reads ../shared/reference and is skipped, with the reason, when
that folder is absent.
"""

from __future__ import annotations

import copy
import re
import tomllib
from pathlib import Path

import pytest
from lxml import etree

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference"
OFFICIAL_DIR = REFERENCE / "duis-schema-5.4"
CORPUS = REFERENCE / "corpus"
XSD_DIR = ROOT / "xsd"
SAMPLES = ROOT / "samples" / "messages"

SR = "http://www.dccinterface.co.uk/ServiceUserGateway"
RA = "http://www.dccinterface.co.uk/ResponseAndAlert"
DS = "http://www.w3.org/2000/09/xmldsig#"
XS = "http://www.w3.org/2001/XMLSchema"
COVERAGE_SOURCE = "urn:duis:coverage"

OFFICIAL_FILES = {
    DS: "xmldsig-core-schema.xsd",
    RA: "MMC Schema V5.4.xsd",
    SR: "DUIS Schema V5.4.xsd",
}

pytestmark = [
    pytest.mark.reference,
    pytest.mark.skipif(
        not OFFICIAL_DIR.is_dir() or not CORPUS.is_dir(),
        reason=f"reference data not available: {REFERENCE} is absent "
               f"(clone with ../shared beside the repo to run these tests)"),
]


# ---------------------------------------------------------------------------
# parsing and schema loading
# ---------------------------------------------------------------------------

def safe_parser() -> etree.XMLParser:
    """A parser that never loads DTDs, expands entities or uses the network."""
    return etree.XMLParser(load_dtd=False, no_network=True, resolve_entities=False,
                           huge_tree=True)


def parse(path: Path) -> etree._ElementTree:
    return etree.parse(str(path), safe_parser())


class _OfficialResolver(etree.Resolver):
    """Serves the three official schema files to libxml2 and nothing else.

    The official xmldsig schema starts with a DOCTYPE whose internal subset
    only declares unused entities and points at an external DTD; it is served
    with the DOCTYPE removed so that nothing is ever loaded for it.
    """

    def resolve(self, url, pubid, context):
        name = Path(url.replace("%20", " ")).name
        for filename in OFFICIAL_FILES.values():
            if name == filename:
                text = (OFFICIAL_DIR / filename).read_text(encoding="utf-8")
                text = re.sub(r"<!DOCTYPE.*?\]>", "", text, count=1, flags=re.S)
                return self.resolve_string(text, context)
        raise OSError(f"refusing to load {url!r} while compiling the official schema")


def load_official() -> etree.XMLSchema:
    """Compile DUIS + MMC + xmldsig 5.4 as one schema.

    libxml2 does not follow the official relative imports (their file names
    contain spaces), so a small driver document imports the three namespaces
    in dependency order, each by an explicit, escaped file URI.
    """
    imports = "".join(
        f'<xs:import namespace="{ns}" schemaLocation="{(OFFICIAL_DIR / fn).as_uri()}"/>'
        for ns, fn in OFFICIAL_FILES.items())
    driver = f'<xs:schema xmlns:xs="{XS}">{imports}</xs:schema>'
    parser = safe_parser()
    parser.resolvers.add(_OfficialResolver())
    doc = etree.fromstring(driver.encode(), parser,
                           base_url=(OFFICIAL_DIR / "driver.xsd").as_uri())
    return etree.XMLSchema(doc)


def load_bundled(name: str = "duis.xsd") -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(XSD_DIR / name), safe_parser()))


@pytest.fixture(scope="session")
def official() -> etree.XMLSchema:
    return load_official()


@pytest.fixture(scope="session")
def bundled() -> etree.XMLSchema:
    return load_bundled()


def verdict(schema: etree.XMLSchema, doc) -> tuple[bool, str]:
    ok = schema.validate(doc)
    return ok, "" if ok else str(schema.error_log.last_error)


def _reason(error: str) -> str:
    """An lxml error line reduced to where and why.

    Pattern texts (written differently, same language) and lists of the
    expected alternatives (the bundled schema lists fewer) are dropped.
    """
    reason = error.split(":", 1)[1] if ":" in error else error
    reason = re.sub(r"the pattern '.*?'", "the pattern", reason)
    return re.sub(r"Expected is .*", "Expected ...", reason)


def both(official, bundled, doc) -> tuple[tuple[bool, str], tuple[bool, str]]:
    return verdict(official, doc), verdict(bundled, doc)


# ---------------------------------------------------------------------------
# coverage declared in duis.xsd
# ---------------------------------------------------------------------------

def coverage_annotations() -> dict[str, list[str]]:
    """Request Body member name -> the variants its appinfo lists."""
    xsd = etree.parse(str(XSD_DIR / "duis.xsd"), safe_parser())
    ns = {"xs": XS}
    members = xsd.xpath("/xs:schema/xs:complexType[@name='Request']//xs:element[@name='Body']"
                        "/xs:complexType/xs:choice/xs:element", namespaces=ns)
    result = {}
    for member in members:
        infos = member.xpath(f"xs:annotation/xs:appinfo[@source='{COVERAGE_SOURCE}']",
                             namespaces=ns)
        result[member.get("name")] = [v for info in infos for v in (info.text or "").split()]
    return result


def covered_variants() -> set[str]:
    return {v for values in coverage_annotations().values() for v in values if v != "*"}


EXPECTED_COVERAGE = {"2.2", "6.23", "8.2", "11.1", "11.2", "11.3", "11.4", "12.1", "12.2"}


def test_coverage_annotations_are_complete():
    annotations = coverage_annotations()
    assert annotations, "no Body members found in duis.xsd"
    for name, values in annotations.items():
        assert values, f"{name} has no {COVERAGE_SOURCE} appinfo"
    assert annotations["SignedPreCommand"] == ["*"]
    assert covered_variants() == EXPECTED_COVERAGE
    xsd = etree.parse(str(XSD_DIR / "duis.xsd"), safe_parser())
    ns = {"xs": XS}
    srv = set(xsd.xpath("/xs:schema/xs:simpleType[@name='ServiceReferenceVariant']"
                        "//xs:enumeration/@value", namespaces=ns))
    assert covered_variants() <= srv
    docs = xsd.xpath("/xs:schema/xs:complexType[@name='Request']//xs:element[@name='Body']"
                     "/xs:complexType/xs:choice/xs:element", namespaces=ns)
    assert docs, "no Body members found in duis.xsd"
    for member in docs:
        text = member.xpath("string(xs:annotation/xs:documentation)", namespaces=ns).strip()
        assert text and "\n" not in text, f"{member.get('name')}: one-line documentation wanted"


def test_schemas_compile_standalone():
    load_bundled("duis.xsd")
    load_bundled("mmc.xsd")
    load_bundled("xmldsig.xsd")
    for name in ("duis.xsd", "mmc.xsd", "xmldsig.xsd"):
        text = (XSD_DIR / name).read_text(encoding="utf-8")
        assert "<!DOCTYPE" not in text and "<!ENTITY" not in text


# ---------------------------------------------------------------------------
# 1. the corpus
# ---------------------------------------------------------------------------

def _files(folder: Path, pattern: str) -> list[Path]:
    return sorted(folder.glob(pattern)) if folder.is_dir() else []


CORPUS_REQUESTS = _files(CORPUS / "requests", "*.XML")


def _srv(doc) -> str | None:
    return doc.findtext(f"{{{SR}}}Header/{{{SR}}}ServiceReferenceVariant")


def test_corpus_is_all_there():
    assert len(CORPUS_REQUESTS) == 159


@pytest.mark.parametrize("path", CORPUS_REQUESTS, ids=lambda p: p.name)
def test_corpus_request(path, official, bundled):
    doc = parse(path)
    srv = _srv(doc)
    (ok_o, err_o), (ok_b, err_b) = both(official, bundled, doc)
    if srv in covered_variants():
        assert ok_o == ok_b, f"{path.name}: official={ok_o} {err_o} / bundled={ok_b} {err_b}"
        assert ok_o, f"{path.name}: the reference template should be valid: {err_o}"
    else:
        assert ok_o, f"{path.name} (SRV {srv}, not covered): official says invalid: {err_o}"
        assert srv not in covered_variants()
        # a subset schema: the uncovered body is not declared
        assert not ok_b, f"{path.name} (SRV {srv}) is not covered but the bundled schema accepts it"


def _signed_candidates() -> list[Path]:
    out = []
    for path in _files(CORPUS / "signed", "*"):
        if path.name == "duis-xxe.xml":
            continue
        if b"<!DOCTYPE" in path.read_bytes():
            continue
        out.append(path)
    return out


@pytest.mark.parametrize("path", _signed_candidates(), ids=lambda p: p.name)
def test_corpus_signed_message(path, official, bundled):
    doc = parse(path)
    root = etree.QName(doc.getroot())
    assert root.namespace == SR and root.localname in ("Request", "Response")
    (ok_o, err_o), (ok_b, err_b) = both(official, bundled, doc)
    if root.localname == "Request" and _srv(doc) not in covered_variants():
        assert ok_o, err_o
        assert not ok_b
        return
    assert ok_o == ok_b, f"{path.name}: official={ok_o} {err_o} / bundled={ok_b} {err_b}"


# ---------------------------------------------------------------------------
# 2. mutations of the covered corpus requests
# ---------------------------------------------------------------------------

def _hdr(root, name):
    return root.find(f"{{{SR}}}Header/{{{SR}}}{name}")


def _set_text(name, value):
    def mutate(root):
        _hdr(root, name).text = value
    return mutate


def _drop_header(name):
    def mutate(root):
        el = _hdr(root, name)
        el.getparent().remove(el)
    return mutate


def _drop_body_first_mandatory(root):
    body = root.find(f"{{{SR}}}Body")[0]
    # ExecutionDateTime is the only optional leading child of a covered body
    child = next(c for c in body if etree.QName(c).localname != "ExecutionDateTime")
    body.remove(child)


def _swap(a, b):
    def mutate(root):
        header = root.find(f"{{{SR}}}Header")
        children = list(header)
        i, j = children.index(_hdr(root, a)), children.index(_hdr(root, b))
        children[i], children[j] = children[j], children[i]
        for child in children:
            header.remove(child)
        header.extend(children)
    return mutate


def _rename(find, new_ns):
    def mutate(root):
        el = find(root)
        el.tag = f"{{{new_ns}}}{etree.QName(el).localname}" if new_ns else etree.QName(el).localname
    return mutate


def _drop_schema_version(root):
    del root.attrib["schemaVersion"]


def _append_unknown(where):
    def mutate(root):
        target = where(root)
        etree.SubElement(target, f"{{{SR}}}Unexpected").text = "x"
    return mutate


def _body(root):
    return root.find(f"{{{SR}}}Body")


def _body_member(root):
    return root.find(f"{{{SR}}}Body")[0]


def _header(root):
    return root.find(f"{{{SR}}}Header")


EUI_A = "90-B3-D5-1F-30-01-00-00"
EUI_B = "00-DB-12-34-56-78-90-A0"

MUTATIONS = {
    "drop RequestID": _drop_header("RequestID"),
    "drop CommandVariant": _drop_header("CommandVariant"),
    "drop ServiceReference": _drop_header("ServiceReference"),
    "drop ServiceReferenceVariant": _drop_header("ServiceReferenceVariant"),
    "drop body first mandatory child": _drop_body_first_mandatory,
    "CommandVariant 0": _set_text("CommandVariant", "0"),
    "CommandVariant 10": _set_text("CommandVariant", "10"),
    "CommandVariant X": _set_text("CommandVariant", "X"),
    "ServiceReference 99.9": _set_text("ServiceReference", "99.9"),
    "ServiceReferenceVariant 99.9": _set_text("ServiceReferenceVariant", "99.9"),
    "RequestID without counter": _set_text("RequestID", f"{EUI_A}:{EUI_B}"),
    "RequestID counter 2^64": _set_text("RequestID", f"{EUI_A}:{EUI_B}:18446744073709551616"),
    "RequestID counter with leading zero": _set_text("RequestID", f"{EUI_A}:{EUI_B}:0100"),
    "RequestID seven-octet EUI": _set_text("RequestID", f"90-B3-D5-1F-30-01-00:{EUI_B}:1"),
    "RequestID colon separated EUI": _set_text(
        "RequestID", f"{EUI_A.replace('-', ':')}:{EUI_B}:1"),
    "swap RequestID/CommandVariant": _swap("RequestID", "CommandVariant"),
    "swap ServiceReference/ServiceReferenceVariant": _swap("ServiceReference",
                                                           "ServiceReferenceVariant"),
    "swap CommandVariant/ServiceReference": _swap("CommandVariant", "ServiceReference"),
    "Body in another namespace": _rename(_body, "urn:example:other"),
    "Body in no namespace": _rename(_body, None),
    "CommandVariant in ra namespace": _rename(lambda r: _hdr(r, "CommandVariant"), RA),
    "body member in ra namespace": _rename(_body_member, RA),
    "no schemaVersion": _drop_schema_version,
    "unknown element in Header": _append_unknown(_header),
    "unknown element in Body": _append_unknown(_body),
    "unknown element in body member": _append_unknown(_body_member),
}


def _mutation_cases():
    cases = []
    covered = covered_variants() if (XSD_DIR / "duis.xsd").exists() else set()
    for path in CORPUS_REQUESTS:
        doc = parse(path)
        if _srv(doc) not in covered:
            continue
        member = doc.getroot().find(f"{{{SR}}}Body")[0]
        has_mandatory = any(etree.QName(c).localname != "ExecutionDateTime" for c in member)
        for name in MUTATIONS:
            if name == "drop body first mandatory child" and not has_mandatory:
                continue
            cases.append(pytest.param(path, name, id=f"{path.name}::{name}"))
    return cases


@pytest.mark.parametrize("path,mutation", _mutation_cases())
def test_mutation_rejected_by_both(path, mutation, official, bundled):
    doc = parse(path)
    root = doc.getroot()
    MUTATIONS[mutation](root)
    (ok_o, err_o), (ok_b, err_b) = both(official, bundled, doc)
    assert not ok_o, f"official schema accepts the mutation {mutation!r}"
    assert not ok_b, f"bundled schema accepts the mutation {mutation!r}"
    # and they reject it for the same reason, at the same place
    assert _reason(err_o) == _reason(err_b)


COUNTERS = ["0", "1", "9", "10", "1000", "0100", "00", "-1", "+1", " 7", "1e3", "",
            "9999999999999999999", "10000000000000000000", "18446744073709551609",
            "18446744073709551610", "18446744073709551614", "18446744073709551615",
            "18446744073709551616", "18446744073709551619", "18446744073709551620",
            "18446744073709551700", "18446744073709552615", "18446744073709651615",
            "18446744083709551615", "19446744073709551615", "28446744073709551615",
            "99999999999999999999", "100000000000000000000"]


@pytest.mark.parametrize("counter", COUNTERS)
def test_request_id_counter_range_agrees(counter, official, bundled):
    """Both schemas accept exactly the unsigned 64-bit counters."""
    doc = parse(CORPUS / "requests" / "CS06_11.3_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML")
    _hdr(doc.getroot(), "RequestID").text = f"{EUI_A}:{EUI_B}:{counter}"
    (ok_o, err_o), (ok_b, err_b) = both(official, bundled, doc)
    assert ok_o == ok_b, f"counter {counter!r}: official={ok_o} {err_o} / bundled={ok_b} {err_b}"
    # the counter sits inside the token, so surrounding spaces are not trimmed
    in_range = counter.isdigit() and (counter == "0" or not counter.startswith("0")) \
        and int(counter) < 2 ** 64
    assert ok_b == in_range


@pytest.mark.parametrize("value,valid", [("9", True), ("8", True), ("1", True),
                                         ("0", False), ("10", False)])
def test_command_variant_range_agrees(value, valid, official, bundled):
    """CommandVariant 9 ("internal to the DCC") is a legal value in the official schema."""
    doc = parse(CORPUS / "requests" / "CS08_11.2_SUCCESS_REQUEST_DUIS.XML")
    _hdr(doc.getroot(), "CommandVariant").text = value
    (ok_o, _), (ok_b, _) = both(official, bundled, doc)
    assert ok_o == ok_b == valid


@pytest.mark.parametrize("extra,valid", [
    ("", True),
    ("<sr:ExecutionDateTime>2031-02-03T04:05:06Z</sr:ExecutionDateTime>", True),
    ("<sr:ExecutionDateTime>2031-02-03</sr:ExecutionDateTime>", False),
])
def test_activate_firmware_future_dating_agrees(extra, valid, official, bundled):
    hash_ = "00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF"
    for h, ok in ((hash_, valid), (hash_[:-2], False), (hash_ + "00", False)):
        doc = etree.fromstring(
            f'<sr:Request xmlns:sr="{SR}" schemaVersion="5.4"><sr:Header>'
            f"<sr:RequestID>{EUI_A}:{EUI_B}:42</sr:RequestID><sr:CommandVariant>4</sr:CommandVariant>"
            f"<sr:ServiceReference>11.3</sr:ServiceReference>"
            f"<sr:ServiceReferenceVariant>11.3</sr:ServiceReferenceVariant></sr:Header>"
            f"<sr:Body><sr:ActivateFirmware>{extra}<sr:FirmwareHash>{h}</sr:FirmwareHash>"
            f"</sr:ActivateFirmware></sr:Body></sr:Request>".encode(), safe_parser())
        (ok_o, _), (ok_b, _) = both(official, bundled, doc)
        assert ok_o == ok_b == ok, (extra, h)


# ---------------------------------------------------------------------------
# 3. structural comparison, declaration by declaration
# ---------------------------------------------------------------------------

#: the only places where the bundled schemas list fewer alternatives
NARROWED_CHOICES = {
    "sr:Request/Body",
    "sr:Response/Body",
    "sr:Response/Body/ResponseMessage",
    "sr:Response/Body/DCCAlertMessage/DCCAlert",
    "ra:GBCSResponse/Body/ResponseMessage/SMETSData",
    "ra:GBCSResponse/Body/DeviceAlertMessage/DeviceAlertContent/Payload",
}


@pytest.fixture(scope="session")
def xs_models():
    xmlschema = pytest.importorskip("xmlschema")
    off = xmlschema.XMLSchema10(str(OFFICIAL_DIR / OFFICIAL_FILES[SR]), allow="local")
    own = xmlschema.XMLSchema10(str(XSD_DIR / "duis.xsd"), allow="local")
    return off, own


def _qn(name: str | None) -> str:
    if not name:
        return str(name)
    prefixes = {SR: "sr", RA: "ra", DS: "ds"}
    q = etree.QName(name)
    if not q.namespace:
        return q.localname
    return f"{prefixes.get(q.namespace, q.namespace)}:{q.localname}"


def _occurs(p):
    return (p.min_occurs, p.max_occurs)


def _mul(a, b):
    return None if a is None or b is None else a * b


def _normalise(particle):
    """Group tree with equivalent spellings folded together."""
    from xmlschema.validators import XsdGroup
    if not isinstance(particle, XsdGroup):
        return particle
    model = particle.model
    kids = []
    for child in particle:
        n = _normalise(child)
        if isinstance(n, dict) and not n["kids"]:
            continue
        if isinstance(n, dict) and n["model"] == model == "sequence" and n["occurs"] == (1, 1):
            kids.extend(n["kids"])
        else:
            kids.append(n)
    node = {"model": model, "occurs": _occurs(particle), "kids": kids}
    if len(kids) == 1 and model in ("sequence", "choice"):
        only = kids[0]
        inner = only["occurs"] if isinstance(only, dict) else _occurs(only)
        if node["occurs"] == (1, 1) or inner == (1, 1):
            occurs = (node["occurs"][0] * inner[0], _mul(node["occurs"][1], inner[1]))
            if isinstance(only, dict):
                return {**only, "occurs": occurs}
            return {"model": "particle", "occurs": occurs, "kids": [only]}
    return node


def _occ(n):
    return n["occurs"] if isinstance(n, dict) else _occurs(n)


def _unwrap(n):
    if isinstance(n, dict) and n["model"] == "particle":
        return n["kids"][0], n["occurs"]
    return n, _occ(n)


def _label(n):
    from xmlschema.validators import XsdAnyElement, XsdElement
    n, _ = _unwrap(n)
    if isinstance(n, XsdElement):
        return _qn(n.name)
    if isinstance(n, XsdAnyElement):
        return f"any({' '.join(sorted(n.namespace))},{n.process_contents})"
    return n["model"]


def _simple_signature(st):
    """Effective facets of a simple type, whatever the derivation chain."""
    facets, patterns, t = {}, [], st
    while t is not None and not getattr(t, "is_builtin", lambda: False)():
        for tag, facet in getattr(t, "facets", {}).items():
            if tag is None:  # a validator callable, not a facet
                continue
            local = etree.QName(tag).localname
            if local == "pattern":
                patterns.append((sorted(facet.regexps), list(facet.patterns)))
            elif local == "enumeration":
                facets.setdefault("enumeration", sorted(map(str, facet.enumeration)))
            elif local == "length":
                facets.setdefault("minLength", facet.value)
                facets.setdefault("maxLength", facet.value)
            elif facet is not None:
                facets.setdefault(local, getattr(facet, "value", None))
        t = t.base_type
    builtin = _qn(t.name) if t is not None else None
    return builtin, facets, patterns


def _probe_strings():
    eui = [EUI_A, EUI_B, EUI_A.lower(), "90-B3-D5-1F-30-01-00", EUI_A + "-00",
           EUI_A.replace("-", ":"), "G0-B3-D5-1F-30-01-00-00", " " + EUI_A, EUI_A + " ", ""]
    out = set(eui)
    for c in COUNTERS:
        out.add(f"{EUI_A}:{EUI_B}:{c}")
    out |= {f"{EUI_A},{EUI_B}", f"{EUI_A},", f",{EUI_A}", f"{EUI_A}, {EUI_B}",
            f"{EUI_A},{EUI_B},{EUI_A}", f"{EUI_A};{EUI_B}", f"{EUI_A}{EUI_B}"}
    base = f"{EUI_A}:{EUI_B}:18446744073709551615"
    for i in range(len(base)):
        out.add(base[:i] + base[i + 1:])
        for ch in "0F9-:,x ":
            out.add(base[:i] + ch + base[i + 1:])
    out |= {"12345678901234567890", "1234567890123456789", "123456789012345678901",
            "plain", "encrypted", "gbcs", "dlms", "zigbeePlain", "zigbeeCiphered", "other"}
    return sorted(out)


PROBES = None


def _patterns_equivalent(a, b) -> bool:
    """Same pattern facets, textually or on a probe set of relevant strings."""
    global PROBES
    if [texts for texts, _ in a] == [texts for texts, _ in b]:
        return True
    if len(a) != len(b):
        return False
    PROBES = PROBES or _probe_strings()
    for (_, ca), (_, cb) in zip(a, b, strict=True):
        for s in PROBES:
            if any(c.match(s) for c in ca) != any(c.match(s) for c in cb):
                return False
    return True


class Comparer:
    def __init__(self):
        self.done = set()
        self.narrowed = set()
        self.problems = []

    def fail(self, path, message):
        self.problems.append(f"{path}: {message}")

    def simple(self, path, mine, theirs):
        bi_m, f_m, p_m = _simple_signature(mine)
        bi_t, f_t, p_t = _simple_signature(theirs)
        if bi_m != bi_t:
            self.fail(path, f"builtin base {bi_m} != {bi_t}")
        if f_m != f_t:
            self.fail(path, f"facets {f_m} != {f_t}")
        if not _patterns_equivalent(p_m, p_t):
            self.fail(path, f"patterns {[t for t, _ in p_m]} != {[t for t, _ in p_t]}")

    def attributes(self, path, mine, theirs):
        am = {_qn(k): a for k, a in mine.attributes.items() if k}
        at = {_qn(k): a for k, a in theirs.attributes.items() if k}
        if set(am) != set(at):
            self.fail(path, f"attributes {sorted(am)} != {sorted(at)}")
            return
        for name in am:
            if am[name].use != at[name].use:
                self.fail(f"{path}/@{name}", f"use {am[name].use} != {at[name].use}")
            self.simple(f"{path}/@{name}", am[name].type, at[name].type)

    def element(self, path, mine, theirs):
        if _qn(mine.name) != _qn(theirs.name):
            self.fail(path, f"name {_qn(mine.name)} != {_qn(theirs.name)}")
            return
        key = (id(mine.type), id(theirs.type))
        if key in self.done:
            return
        self.done.add(key)
        self.type(path, mine.type, theirs.type)

    def type(self, path, mine, theirs):
        if mine.is_simple() != theirs.is_simple():
            self.fail(path, "simple vs complex")
            return
        if mine.is_simple():
            self.simple(path, mine, theirs)
            return
        if mine.mixed != theirs.mixed:
            self.fail(path, f"mixed {mine.mixed} != {theirs.mixed}")
        self.attributes(path, mine, theirs)
        if mine.has_simple_content() != theirs.has_simple_content():
            self.fail(path, "simple content mismatch")
            return
        if mine.has_simple_content():
            self.simple(path, mine.content, theirs.content)
            return
        self.group(path, _normalise(mine.content), _normalise(theirs.content))

    def group(self, path, mine, theirs):
        from xmlschema.validators import XsdAnyElement, XsdElement
        if not isinstance(mine, dict) or not isinstance(theirs, dict) \
                or mine["model"] == "particle" or theirs["model"] == "particle":
            um, om = _unwrap(mine)
            ut, ot = _unwrap(theirs)
            if om != ot:
                self.fail(path, f"{_label(mine)} occurs {om} != {ot}")
            if isinstance(um, XsdElement) and isinstance(ut, XsdElement):
                self.element(f"{path}/{etree.QName(um.name).localname}", um, ut)
            elif isinstance(um, XsdAnyElement) and isinstance(ut, XsdAnyElement):
                if _label(um) != _label(ut):
                    self.fail(path, f"{_label(um)} != {_label(ut)}")
            elif isinstance(um, dict) and isinstance(ut, dict):
                self.group(path, {**um, "occurs": om}, {**ut, "occurs": ot})
            else:
                self.fail(path, f"{_label(mine)} != {_label(theirs)}")
            return
        if mine["model"] != theirs["model"] or mine["occurs"] != theirs["occurs"]:
            self.fail(path, f"{mine['model']}{mine['occurs']} != "
                            f"{theirs['model']}{theirs['occurs']}")
            return
        km, kt = mine["kids"], theirs["kids"]
        if mine["model"] == "choice":
            by_label = {_label(k): k for k in kt}
            labels_m = [_label(k) for k in km]
            if len(set(labels_m)) != len(labels_m) or len(by_label) != len(kt):
                # ambiguous labels (e.g. nested groups): compare by position
                if len(km) != len(kt):
                    self.fail(path, f"choice of {len(km)} != {len(kt)}")
                    return
                pairs = list(zip(km, kt, strict=True))
            else:
                missing = [lab for lab in labels_m if lab not in by_label]
                if missing:
                    self.fail(path, f"choice members not in the official schema: {missing}")
                    return
                if len(km) < len(kt):
                    if path not in NARROWED_CHOICES:
                        self.fail(path, "choice narrowed at an undocumented place")
                    self.narrowed.add(path)
                pairs = [(k, by_label[_label(k)]) for k in km]
        else:
            if [_label(k) for k in km] != [_label(k) for k in kt]:
                self.fail(path, f"sequence {[_label(k) for k in km]} != {[_label(k) for k in kt]}")
                return
            pairs = list(zip(km, kt, strict=True))
        for a, b in pairs:
            self.group(path, a, b)


def test_structure_matches_official(xs_models):
    off, own = xs_models
    comparer = Comparer()
    for qname in (f"{{{SR}}}Request", f"{{{SR}}}Response", f"{{{RA}}}GBCSResponse",
                  f"{{{DS}}}Signature"):
        comparer.element(_qn(qname), own.maps.elements[qname], off.maps.elements[qname])
    assert not comparer.problems, "\n".join(comparer.problems)
    assert comparer.narrowed == NARROWED_CHOICES


def test_every_bundled_ds_element_matches_official(xs_models):
    """The xmldsig rewrite: every global element, not only what Signature reaches."""
    off, own = xs_models
    comparer = Comparer()
    mine = {k: v for k, v in own.maps.elements.items() if k.startswith(f"{{{DS}}}")}
    theirs = {k: v for k, v in off.maps.elements.items() if k.startswith(f"{{{DS}}}")}
    assert set(mine) == set(theirs)
    for qname in sorted(mine):
        comparer.element(_qn(qname), mine[qname], theirs[qname])
    assert not comparer.problems, "\n".join(comparer.problems)


ENUMERATED_TYPES = ["CommandVariant", "ServiceReference", "ServiceReferenceVariant",
                    "ResponseCode", "DeviceStatus", "DeviceType", "ESMEVariant",
                    "CSPRegion", "FirmwareVersionStatus", "CPLStatus", "Connectivity"]


@pytest.mark.parametrize("name", ENUMERATED_TYPES)
def test_enumerations_identical(name, xs_models):
    off, own = xs_models
    assert own.types[name].enumeration == off.types[name].enumeration


def test_dcc_alert_codes_identical(xs_models):
    off, own = xs_models
    path = "sr:Body/sr:DCCAlertMessage/sr:DCCAlertCode"
    mine = own.elements["Response"].find(path, namespaces={"sr": SR})
    theirs = off.elements["Response"].find(path, namespaces={"sr": SR})
    assert mine.type.enumeration == theirs.type.enumeration
    assert {"AD1", "N29", "N50", "N51", "N52"} <= set(mine.type.enumeration)


# ---------------------------------------------------------------------------
# 4. the hand-written samples
# ---------------------------------------------------------------------------

def _manifest() -> dict:
    path = SAMPLES / "MANIFEST.toml"
    return tomllib.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


MANIFEST = _manifest()
EXPECTS = {"valid", "invalid", "not-covered", "unusable"}
KINDS = {"request", "response", "mmc"}


def test_manifest_lists_every_sample():
    on_disk = {p.relative_to(SAMPLES).as_posix() for p in SAMPLES.rglob("*")
               if p.is_file() and p.name != "MANIFEST.toml"}
    assert on_disk == set(MANIFEST)
    for name, entry in MANIFEST.items():
        assert entry["expect"] in EXPECTS, name
        assert entry["kind"] in KINDS, name
        assert entry["about"].strip() and "\n" not in entry["about"], name
        assert name.split("/")[0] == entry["expect"], f"{name} sits in the wrong folder"
        if entry["expect"] == "invalid":
            assert entry.get("rule", "").strip(), f"{name}: an invalid sample names its rule"


def test_required_samples_present():
    names = set(MANIFEST)
    assert "valid/CS06_11.3_future_dated_request.xml" in names
    for expect in ("valid", "invalid", "not-covered", "unusable"):
        assert any(n.startswith(expect + "/") for n in names), expect


def _sample_cases():
    return [pytest.param(name, entry, id=name) for name, entry in sorted(MANIFEST.items())]


@pytest.mark.parametrize("name,entry", _sample_cases())
def test_sample_verdict(name, entry, official, bundled):
    path = SAMPLES / name
    raw = path.read_bytes()
    if entry["expect"] == "unusable":
        try:
            doc = etree.fromstring(raw, safe_parser())
        except etree.XMLSyntaxError:
            return
        assert doc.getroottree().docinfo.internalDTD is not None or b"<!DOCTYPE" in raw, \
            f"{name} parses cleanly without a DTD: not unusable"
        return
    assert raw.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n'), name
    raw.decode("utf-8")
    assert b"<!DOCTYPE" not in raw
    doc = etree.fromstring(raw, safe_parser())
    root = etree.QName(doc)
    expected_prefix = {"request": "sr", "response": "sr", "mmc": "ra"}[entry["kind"]]
    assert doc.prefix == expected_prefix, f"{name}: root prefix {doc.prefix}"
    assert root.localname == {"request": "Request", "response": "Response",
                              "mmc": "GBCSResponse"}[entry["kind"]] or entry["expect"] == "invalid"
    _assert_two_space_indent(name, raw)
    (ok_o, err_o), (ok_b, err_b) = both(official, bundled, doc)
    if entry["expect"] == "valid":
        assert ok_o, f"{name}: official says {err_o}"
        assert ok_b, f"{name}: bundled says {err_b}"
    elif entry["expect"] == "invalid":
        assert not ok_o, f"{name}: official schema accepts it"
        assert not ok_b, f"{name}: bundled schema accepts it"
        assert _reason(err_o) == _reason(err_b)
    else:  # not-covered
        assert ok_o, f"{name}: official says {err_o}"
        assert not ok_b, f"{name}: bundled schema accepts an uncovered request"
        assert doc.findtext(f"{{{SR}}}Header/{{{SR}}}ServiceReferenceVariant") \
            not in covered_variants()


def _assert_two_space_indent(name, raw: bytes):
    """The file is exactly what a 2-space pretty printer would write."""
    doc = etree.fromstring(raw, safe_parser())
    pretty = copy.deepcopy(doc)
    etree.indent(pretty, space="  ")
    expected = (b'<?xml version="1.0" encoding="UTF-8"?>\n'
                + etree.tostring(pretty, encoding="UTF-8", xml_declaration=False) + b"\n")
    assert raw == expected, f"{name}: not pretty-printed with 2-space indentation"
