"""What a message says: who sent what to whom, and what it means.

:func:`describe` gives the facts as data (``duis inspect --json``: stable
snake_case keys, typed values); :func:`render` turns them into the readable
summary ``duis inspect`` prints.  The facts have one home, here; the labels and
the prose belong to :func:`render`.
"""

from __future__ import annotations

from ..catalogue import UnknownServiceRequest, lookup
from ..catalogue.codes import command_variant_meaning, dcc_alerts, response_code_meaning
from .model import Message, MMCDocument, Node, Request, Response

_MAX_TEXT = 72
#: the ``message`` value of each kind of message, and how :func:`render` names it
KINDS = {"request": "Service Request", "response": "Response", "device-alert": "Device Alert",
         "dcc-alert": "DCC Alert", "smets1-response": "SMETS1 Response", "mmc": "MMC document"}


def describe(message: Message, *, source: str | None = None,
             schema: dict | None = None) -> dict:
    """The facts of ``message`` as JSON data (docs: the README's ``duis inspect``).

    Every key is present for its kind of message (``null`` when the message does
    not say); ``schema`` is the verdict (``name``, ``verdict``, ``problems``,
    ``first_problem``), ``null`` when not given."""
    facts: dict = {"file": source}
    if isinstance(message, Request):
        facts.update(_request_facts(message))
    elif isinstance(message, Response):
        facts.update(_response_facts(message))
    else:
        facts.update(_mmc_facts(message))
    facts["body"] = node_data(message.root if isinstance(message, MMCDocument) else message.body)
    facts["schema"] = schema
    return facts


def _service(variant: str | None) -> dict:
    """The catalogue's facts about ``variant`` (``None`` values when it is unknown)."""
    try:
        entry = lookup(variant) if variant else None
    except UnknownServiceRequest:
        entry = None
    return {"service_reference_variant": variant,
            "service_name": entry.name if entry else None,
            "in_catalogue": entry is not None,
            "service_kind": entry.kind if entry else None,
            "eligible_roles": sorted(entry.roles) if entry else []}


def _request_facts(m: Request) -> dict:
    h = m.header
    return {
        "message": "request", "schema_version": m.schema_version, "signed": m.signed,
        "request_id": str(h.request_id), "originator": str(m.originator),
        "target": str(m.target), "counter": m.counter,
        "service_reference": h.service_reference, **_service(m.service_reference_variant),
        "command_variant": m.command_variant,
        "command_variant_meaning": command_variant_meaning(m.command_variant),
        "preceding_request_id": (str(h.preceding_request_id)
                                 if h.preceding_request_id else None),
    }


def _response_facts(m: Response) -> dict:
    h = m.header
    known = dcc_alerts().get(m.alert_code) if m.alert_code else None
    return {
        "message": m.kind if m.kind in KINDS else "response",
        "schema_version": m.schema_version, "signed": m.signed,
        "response_id": str(h.response_id) if h.response_id else None,
        "originator": str(h.response_id.originator) if h.response_id else None,
        "target": str(h.response_id.target) if h.response_id else None,
        "request_id": str(h.request_id) if h.request_id else None,
        "response_code": h.response_code,
        "response_code_meaning": response_code_meaning(h.response_code),
        "response_datetime": h.response_datetime,
        "alert_code": m.alert_code,
        "alert_meaning": known.meaning if known else None,
        **_service(m.service_reference_variant),
    }


def _mmc_facts(m: MMCDocument) -> dict:
    return {"message": "mmc", "root": m.root.name}


def node_data(node: Node) -> dict:
    """An element as data: ``name``, ``text`` (``null`` for an element with
    children or none), ``children``."""
    return {"name": node.name, "text": node.text if not node.children else None,
            "children": [node_data(child) for child in node.children]}


def render_node(node: Node | dict, indent: int = 0) -> str:
    """An indented outline of a body; long values are shortened with their length."""
    data = node_data(node) if isinstance(node, Node) else node
    pad = "  " * indent
    text = data["text"]
    if text is not None:
        if len(text) > _MAX_TEXT:
            text = f"{text[:_MAX_TEXT - 20]}... ({len(data['text'])} characters)"
        return f"{pad}{data['name']} = {text}"
    if not data["children"]:
        return f"{pad}{data['name']} (empty)"
    return "\n".join([f"{pad}{data['name']}"]
                     + [render_node(c, indent + 1) for c in data["children"]])


def _signed(facts: dict) -> str:
    return "signed" if facts["signed"] else "unsigned"


def _lines(facts: dict) -> list[tuple[str, str]]:
    """(label, text) of each fact :func:`render` shows, in order."""
    kind = facts["message"]
    lines = [("file", facts["file"])] if facts["file"] else []
    if kind == "mmc":
        lines.append(("message", f"MMC document ra:{facts['root']}"))
    else:
        lines.append(("message", f"{KINDS[kind]} (schema {facts['schema_version']}, "
                                 f"{_signed(facts)})"))
    if kind == "request":
        lines += [("from", f"{facts['originator']} (originator, a DCC user)"),
                  ("to", f"{facts['target']} (target)"),
                  ("counter", str(facts["counter"]))]
        lines += _service_lines(facts)
        lines.append(("command variant", f"{facts['command_variant']}: "
                                         f"{facts['command_variant_meaning']}"))
        if facts["preceding_request_id"]:
            lines.append(("preceding request", facts["preceding_request_id"]))
    elif kind != "mmc":
        if facts["response_id"]:
            lines += [("from", facts["originator"]), ("to", facts["target"])]
        if facts["request_id"]:
            lines.append(("in reply to", facts["request_id"]))
        lines += [("response code", f"{facts['response_code']}: "
                                    f"{facts['response_code_meaning']}"),
                  ("at", facts["response_datetime"])]
        if facts["alert_code"]:
            lines.append(("alert code", f"{facts['alert_code']}: {facts['alert_meaning']}"
                          if facts["alert_meaning"] else facts["alert_code"]))
        lines += _service_lines(facts)
    lines.append(("body", render_node(facts["body"])))
    schema = facts["schema"]
    if schema:
        verdict = f"{schema['verdict']} ({schema['name']})"
        if schema["first_problem"]:
            verdict += f": {schema['first_problem']}"
        lines.append(("schema", verdict))
    return lines


def _service_lines(facts: dict) -> list[tuple[str, str]]:
    variant = facts["service_reference_variant"]
    if not variant:
        return []
    if not facts["in_catalogue"]:
        return [("service", f"{variant} (not in the DUIS catalogue)")]
    return [("service", f"{variant} {facts['service_name']}"),
            ("kind", facts["service_kind"]),
            ("eligible roles", ", ".join(facts["eligible_roles"]))]


def render(facts: dict) -> str:
    """The readable summary of :func:`describe`'s facts."""
    lines = _lines(facts)
    width = max(len(label) for label, _ in lines) + 1
    out = []
    for label, value in lines:
        if "\n" in value or label == "body":
            out.append(f"{label}:")
            out += ["  " + line for line in value.splitlines()]
        else:
            out.append(f"{label + ':':<{width}} {value}")
    return "\n".join(out)
