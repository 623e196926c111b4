"""The public API, pinned: what each public package exports (its ``__all__``).

Anything not listed here is internal and may move freely; a change to this list
is a change to the API, made on purpose (and said in the changelog of a release).
Every name resolves, and every exported class and function states its contract
in a docstring.
"""

from __future__ import annotations

import importlib
import inspect

import pytest

PUBLIC: dict[str, list[str]] = {
    "duis.authorise": [
        "AuthorisationContext", "CHECKS", "Decision", "authorise", "decide"
    ],
    "duis.catalogue": [
        "ServiceRequest", "USER_ROLES", "UnknownServiceRequest", "allowed_roles", "catalogue",
        "lookup"
    ],
    "duis.clock": [
        "Clock", "Environment", "FixedClock", "SystemClock", "UTC", "parse_instant",
        "seeded_random"
    ],
    "duis.defaults": [
        "default_store_directory", "default_world"
    ],
    "duis.devices": [
        "ALERT_ACTIVATION_FAILED", "ALERT_ACTIVATION_SUCCEEDED", "ALREADY_ACTIVE_STATUS",
        "ActivationScheduled", "Delivery", "DevicesError", "EmulatedDevice", "Event",
        "FIRMWARE_DEVICE_TYPES", "Fault", "FaultPlan", "GSME_COPY", "GsmeCopy", "Image",
        "ImageHeld", "ImageLibrary", "KnownImage", "MACHINES", "Machine", "NO_IMAGE_STATUS",
        "Network", "NoTransition", "OTHER_COMMANDS", "POWER_LOSS_STATUS", "RandomFault",
        "Running", "SMETS1_FIRMWARE", "SMETS1_RETRY_ANSWER", "SMETS2_FIRMWARE", "Schedule",
        "Surroundings", "TargetedFault", "Transition", "UnknownDevice", "UnsupportedCommand",
        "sample_image", "sha256"
    ],
    "duis.dsp": [
        "AlertIntent", "DSP", "FirmwareReport", "NotEmulated", "Outgoing", "Responder",
        "Submission", "process_firmware_report"
    ],
    "duis.errors": [
        "DTDForbidden", "DuisError", "EncodingNotAllowed", "EntitiesForbidden",
        "ExternalReferenceForbidden", "InputError", "InputTooLarge", "MalformedXML",
        "MessageError", "MissingExtra", "NestingTooDeep", "NotCovered", "SchemaInvalid",
        "SchemaUnavailable", "TooManyNodes", "UnreadableInput", "UnsafeXML", "WrongRoot"
    ],
    "duis.gbcs": [
        "ActivateFirmware", "ActivationResult", "CommandOutcome", "DistributeImage",
        "FirmwareActivationAlert", "FirmwareVersionReport", "GbcsDecodeError",
        "GbcsEncodeError", "GbcsMessage", "ImageDistributionResult", "Kind",
        "POWER_OUTAGE_ALERT", "Payload", "PowerOutageAlert", "ReadFirmwareVersion", "STATUSES",
        "TopUp", "UpdateSecurityCredentials", "WireError", "WorldKeys", "decode", "encode",
        "from_base64", "precommand", "read", "to_base64", "world_keys"
    ],
    "duis.messages": [
        "EUI64", "MMCDocument", "Message", "MessageID", "Node", "Request", "RequestHeader",
        "RequestID", "Response", "ResponseHeader", "ResponseID", "build", "build_element",
        "build_serialized", "default_command_variant", "format_datetime", "from_tree", "leaf",
        "node", "parse_message", "request", "response", "response_message", "serialize",
        "to_element", "to_node"
    ],
    "duis.mmc": [
        "AlertMeaning", "DeviceReply", "Mapping", "MappingInvalid", "TranslationError",
        "UseCase", "command_for", "describe", "device_reply", "instant", "load_mapping",
        "mapping", "mmc_document", "mmc_for_payload", "mmc_for_response", "mmc_output", "render",
        "signed_command", "use_case_for"
    ],
    "duis.namespaces": [
        "DS", "PREFIXES", "RA", "SR", "XSI", "ds", "ra", "sr"
    ],
    "duis.profiles": [
        "BehaviourProfile", "DEFAULT_PROFILE", "JointProfile", "ProfilesDisagree",
        "UnknownProfile", "profile", "profiles"
    ],
    "duis.scenario": [
        "Scenario", "ScenarioError", "Step", "StepFailed", "Transcript", "read_scenario",
        "run_scenario", "write_folder"
    ],
    "duis.schema": [
        "BUNDLED", "DEFAULT_REPORT_LIMITS", "EXIT_CODES", "INVALID", "NOT_COVERED",
        "ReportLimits", "SCHEMA_DIR_ENV", "SchemaIssue", "SchemaSet", "UNUSABLE", "VALID",
        "ValidationReport", "bundled_dir", "check_tree", "ensure_valid", "load_schema",
        "validate"
    ],
    "duis.serve": [
        "Client", "Endpoints", "Exchange", "HTTP_STATUS", "Inbox", "Outbox", "ReceiverThread",
        "Reply", "SERVICE_PATHS", "ServeConfig", "Server", "ServerThread", "ServerUnreachable",
        "build_app", "build_receiver", "http_status", "serve_until_signalled", "service_for"
    ],
    "duis.settings": [
        "DEFAULT_SETTINGS", "Settings", "SettingsError", "load_settings", "settings_from_text"
    ],
    "duis.signatures": [
        "CounterStore", "Credential", "CredentialStore", "MillisecondCounter",
        "VerifiedMessage", "errors", "generate_test_pki", "sign", "sign_built",
        "sign_with_store", "verify"
    ],
    "duis.simulate": [
        "Campaign", "CampaignSettings", "FleetSpec", "Phase", "ProfileResult", "RECOVERY",
        "SharedSteps", "SimulationError", "SimulationReport", "Timeline", "build_inventory",
        "fleet_devices", "run_profile", "simulate"
    ],
    "duis.smi": [
        "AmbiguousCplEntry", "AuditRecord", "CplEntry", "Device", "DuplicateKey", "FailOnWrite",
        "InjectedFault", "InvalidRecord", "Inventory", "NotFound", "SmiError",
        "SqliteInventory", "User", "World", "WorldError", "default_world", "load_world",
        "open_smi", "read_world",
    ],
    "duis.xmlparse": [
        "DEFAULT_LIMITS", "DEFAULT_MAX_BYTES", "DEFAULT_MAX_DEPTH", "DEFAULT_MAX_NODES",
        "ParseLimits", "parse_bytes", "parse_canonical", "parse_own", "parse_xml",
        "read_source", "schema_document_parser", "validating_parser"
    ],
}


@pytest.mark.parametrize("module_name", sorted(PUBLIC))
def test_exports_are_exactly_the_pinned_names(module_name: str):
    module = importlib.import_module(module_name)
    assert sorted(module.__all__) == PUBLIC[module_name]
    assert len(set(module.__all__)) == len(module.__all__), "a name exported twice"


@pytest.mark.parametrize("module_name", sorted(PUBLIC))
def test_every_export_resolves_and_says_what_it_does(module_name: str):
    module = importlib.import_module(module_name)
    undocumented = []
    for name in PUBLIC[module_name]:
        value = getattr(module, name)  # AttributeError names a missing export
        if (inspect.isclass(value) or inspect.isfunction(value)) \
                and value.__module__.startswith("duis") and not inspect.getdoc(value):
            undocumented.append(name)
    assert undocumented == [], f"exports of {module_name} without a docstring"


def test_the_command_line_entry_point_is_duis_cli_main():
    from duis.cli import main
    assert callable(main)
