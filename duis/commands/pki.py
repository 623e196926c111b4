"""``duis pki``: credentials for a team's own DCC users, and the emulated devices' certificates.

``duis pki init DIR --user EUI:ROLE...`` writes a test PKI in the shape of the one
that comes with duis (a CA, per user an XML-signing certificate and GBCS ds and ka
certificates, the DSP's XML-signing and Access Control Broker certificates,
``roles.toml``), optionally with device keys in the GBCS key-folder layout.
``duis pki export-devices --world W --out DIR`` writes every emulated device's GBCS
certificates in that layout, for the DCC's parser and other tools.

cryptography is imported only when a command runs (``duis --help`` stays lean).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ._io import path_argument


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "pki",
        description="Credentials: a test PKI for your own DCC users (init), the emulated "
                    "devices' GBCS certificates (export-devices). Exit status: 0 written, "
                    "2 unusable options or DIR.",
        epilog="examples:\n"
               "  duis pki init my-pki --user 90-B3-D5-1F-30-0A-00-00:IS,GS "
               "--user 90-B3-D5-1F-30-0B-00-00:ED\n"
               "  duis pki export-devices --out keys/",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True

    init = actions.add_parser(
        "init", help="create a test PKI for your own DCC users",
        description="Create a credential store for your own DCC users in DIR, in the shape "
                    "of duis's test PKI: a CA (OU=07, CN=DT1); per user an XML-signing "
                    "certificate (OU=87 and its roles), a GBCS digital-signing and a "
                    "key-agreement certificate (<eui>-ds.pem, <eui>-ka.pem, with keys); the "
                    "DSP's XML-signing certificate and its Access Control Broker ka and ds "
                    "certificates; roles.toml. Use it with --store DIR (duis run, serve, "
                    "sign, verify...) or DUIS_PKI=DIR. Deterministic: the same options give "
                    "the same files. Test keys only.")
    init.add_argument("directory", metavar="DIR", help="where to write (new or empty)")
    init.add_argument("--user", metavar="EUI:ROLE[,ROLE]", action="extend", nargs="+",
                      required=True, dest="users",
                      help="a DCC user: its EUI-64 and DUIS user roles (IS, ES, GS, ED, GT, "
                           "RSA, OU); repeat for more users")
    init.add_argument("--device", metavar="EUI", action="extend", nargs="+", default=[],
                      dest="devices",
                      help="also write this device's GBCS keys and certificates "
                           "(<eui>-ka/-ds .pem/.key, 16 lower-case hex digits); by default the "
                           "keys duis's emulated device of that EUI-64 has")
    init.add_argument("--dsp", metavar="EUI", default=None,
                      help="the DSP's (Access Control Broker's) EUI-64 "
                           "(default 90-B3-D5-1F-30-00-00-02, as DCC Boxed)")
    init.add_argument("--seed", type=int, default=None, metavar="N",
                      help="derive every key from N (default: the test PKI's seed for users, "
                           "the emulation's for devices)")
    init.add_argument("--force", action="store_true",
                      help="replace DIR even if it is not empty (its files are removed)")
    init.set_defaults(run=run_init)

    export = actions.add_parser(
        "export-devices", help="write the emulated devices' GBCS certificates",
        description="Write the GBCS certificates (device-certificate shape: empty subject, "
                    "EUI-64 in the subjectAltName) of every device of a world as "
                    "<eui>-ka.pem and <eui>-ds.pem (16 lower-case hex digits): the key-folder "
                    "layout the DCC's GBCS parser and DCC Boxed clients read. Files of the "
                    "same names in DIR are replaced, others are left alone.")
    export.add_argument("--world", metavar="FILE", default=None,
                        help="the world file (default: the world that comes with duis)")
    export.add_argument("--out", metavar="DIR", required=True, type=path_argument,
                        help="the key folder to write")
    export.add_argument("--private", action="store_true",
                        help="write the private keys too (<eui>-ka.key, <eui>-ds.key)")
    export.add_argument("--seed", type=int, default=None, metavar="N",
                        help="the seed the devices' keys derive from (default: the "
                             "emulation's)")
    export.set_defaults(run=run_export)


def _usage_error(message: str, **fields) -> Exception:
    from ._io import UsageError
    return UsageError(message, **fields)


def parse_user(text: str) -> tuple[str, tuple[str, ...]]:
    """``EUI:ROLE[,ROLE]`` -> (canonical EUI-64, roles), or a usage error naming what is wrong."""
    from ..signatures.profile import USER_ROLES
    eui, sep, roles_text = text.rpartition(":")
    if not sep or not eui:
        raise _usage_error("a user is EUI:ROLE", source=f"--user {text}",
                           expected="EUI-64:ROLE[,ROLE] (e.g. 90-B3-D5-1F-30-0A-00-00:IS)",
                           found=repr(text))
    roles = tuple(role.strip() for role in roles_text.split(","))
    unknown = [role for role in roles if role not in USER_ROLES]
    if unknown:
        raise _usage_error("unknown DUIS user role", source=f"--user {text}",
                           expected=f"roles from {', '.join(sorted(USER_ROLES))}",
                           found=", ".join(repr(role) for role in unknown))
    return _eui(eui, f"--user {text}"), roles


def _eui(text: str, option: str) -> str:
    from ..errors import DuisError
    from ..messages.ids import EUI64
    try:
        return str(EUI64.parse(text))
    except DuisError as exc:
        raise _usage_error("not an EUI-64", source=option, expected=exc.expected,
                           found=repr(text)) from None


def _devices_files(euis, seed: int | None, private: bool) -> dict[str, bytes]:
    """The GBCS key-folder files of devices (their keys as the emulation derives them)."""
    import tempfile

    from ..gbcs.wire.certificates import DEFAULT_SEED, party_keys, write_key_folder
    chosen = DEFAULT_SEED if seed is None else seed
    files: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory(prefix="duis-pki-") as tmp:
        for eui in euis:
            for path in write_key_folder(tmp, party_keys(eui, chosen), device=True,
                                         private=private, seed=chosen):
                files[path.name] = path.read_bytes()
    return files


def run_init(args: argparse.Namespace) -> int:
    target = Path(args.directory)
    if target.exists() and not target.is_dir():
        raise _usage_error("not a directory", source=str(target),
                           expected="a new or empty directory", found="a file")
    if target.is_dir() and any(target.iterdir()) and not args.force:
        raise _usage_error("directory not empty", source=str(target),
                           expected="a new or empty directory (or --force to replace it)",
                           found=f"{sum(1 for _ in target.iterdir())} entries")
    users: dict[str, tuple[str, ...]] = {}
    for text in args.users:
        eui, roles = parse_user(text)
        if eui in users:
            raise _usage_error("a user given twice", source=f"--user {text}",
                               expected="each EUI-64 once (roles separated by commas)",
                               found=eui)
        users[eui] = roles
    from ..signatures.testpki import DEFAULT_SEED, DSP, generate_pki
    dsp = _eui(args.dsp, "--dsp") if args.dsp else DSP
    if dsp in users:
        raise _usage_error("the DSP is not a user", source="--dsp", found=dsp,
                           expected="an EUI-64 no --user has")
    devices = [_eui(text, "--device") for text in args.devices]
    for device in devices:
        if device in users or device == dsp:
            raise _usage_error("a device is not a user or the DSP", source="--device",
                               expected="an EUI-64 no --user or --dsp has", found=device)
    files = generate_pki(users, dsp=dsp, seed=DEFAULT_SEED if args.seed is None else args.seed)
    files.update(_devices_files(devices, args.seed, private=True))
    from ..files import write_folder
    write_folder(target, sorted(files.items()))
    print(f"wrote {len(files)} files to {target}: {len(users)} user(s), the DSP {dsp}"
          + (f", {len(devices)} device(s)" if devices else ""))
    print(f"use it: --store {target}   (or DUIS_PKI={target})")
    return 0


def run_export(args: argparse.Namespace) -> int:
    from ..defaults import default_world
    from ..files import make_folder
    from ..smi import WorldError, read_world
    from ._io import write_output
    try:
        world = read_world(args.world or default_world())
    except WorldError as exc:
        for problem in getattr(exc, "errors", None) or [exc]:
            print(f"duis pki: {problem}", file=sys.stderr)
        return 2
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise _usage_error("not a directory", source=str(out), expected="a key folder",
                           found="a file")
    make_folder(out)
    files = _devices_files([device.eui for device in world.devices], args.seed,
                           private=args.private)
    for name, data in sorted(files.items()):
        write_output(data, str(out / name))
    print(f"wrote {len(files)} files to {out}: {len(world.devices)} device(s) of "
          f"{world.source}")
    return 0
