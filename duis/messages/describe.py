"""A readable account of a message: who sent what to whom, and what it means."""

from __future__ import annotations

from ..catalogue import UnknownServiceRequest, lookup
from ..catalogue.codes import command_variant_meaning, dcc_alerts, response_code_meaning
from .model import Message, MMCDocument, Node, Request, Response

_MAX_TEXT = 72


def describe(message: Message, *, source: str | None = None, verdict: str | None = None) -> dict:
    """The facts ``duis inspect`` prints, as an ordered dict (JSON friendly)."""
    facts: dict = {}
    if source:
        facts["file"] = source
    if isinstance(message, Request):
        facts.update(_request_facts(message))
    elif isinstance(message, Response):
        facts.update(_response_facts(message))
    else:
        facts.update(_mmc_facts(message))
    if verdict:
        facts["schema"] = verdict
    return facts


def _service(variant: str | None) -> dict:
    if not variant:
        return {}
    try:
        entry = lookup(variant)
    except UnknownServiceRequest:
        return {"service": f"{variant} (not in the DUIS catalogue)"}
    return {"service": f"{variant} {entry.name}",
            "kind": entry.kind,
            "eligible roles": ", ".join(sorted(entry.roles))}


def _request_facts(m: Request) -> dict:
    facts = {
        "message": f"Service Request (schema {m.schema_version}, "
                   f"{'signed' if m.signed else 'unsigned'})",
        "from": f"{m.originator} (originator, a DCC user)",
        "to": f"{m.target} (target)",
        "counter": m.counter,
        **_service(m.service_reference_variant),
        "command variant": f"{m.command_variant}: {command_variant_meaning(m.command_variant)}",
    }
    if m.header.preceding_request_id:
        facts["preceding request"] = str(m.header.preceding_request_id)
    facts["body"] = render_node(m.body)
    return facts


def _response_facts(m: Response) -> dict:
    h = m.header
    kind = {"response": "Response", "device-alert": "Device Alert",
            "dcc-alert": "DCC Alert"}.get(m.kind, m.kind)
    facts = {"message": f"{kind} (schema {m.schema_version}, "
                        f"{'signed' if m.signed else 'unsigned'})"}
    if h.response_id:
        facts["from"] = str(h.response_id.originator)
        facts["to"] = str(h.response_id.target)
    if h.request_id:
        facts["in reply to"] = str(h.request_id)
    facts["response code"] = f"{h.response_code}: {response_code_meaning(h.response_code)}"
    facts["at"] = h.response_datetime
    if m.alert_code:
        known = dcc_alerts().get(m.alert_code)
        facts["alert code"] = f"{m.alert_code}: {known.meaning}" if known else m.alert_code
    facts.update(_service(m.service_reference_variant))
    facts["body"] = render_node(m.body)
    return facts


def _mmc_facts(m: MMCDocument) -> dict:
    return {"message": f"MMC document ra:{m.root.name}", "body": render_node(m.root)}


def render_node(node: Node, indent: int = 0) -> str:
    """An indented outline of a body; long values are shortened with their length."""
    pad = "  " * indent
    if node.text is not None and not node.children:
        text = node.text
        if len(text) > _MAX_TEXT:
            text = f"{text[:_MAX_TEXT - 20]}... ({len(node.text)} characters)"
        return f"{pad}{node.name} = {text}"
    if not node.children:
        return f"{pad}{node.name} (empty)"
    return "\n".join([f"{pad}{node.name}"] + [render_node(c, indent + 1) for c in node.children])


def render(facts: dict) -> str:
    width = max(len(k) for k in facts) + 1
    lines = []
    for key, value in facts.items():
        value = str(value)
        if "\n" in value or key == "body":
            lines.append(f"{key}:")
            lines += ["  " + line for line in value.splitlines()]
        else:
            lines.append(f"{key + ':':<{width}} {value}")
    return "\n".join(lines)
