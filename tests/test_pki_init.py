"""``duis pki init``: a test PKI for a team's own DCC users, used by scenarios and serve."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cryptography import x509

from duis.catalogue import USER_ROLES
from duis.cli import main
from duis.gbcs.wire.certificates import party_keys
from duis.messages.ids import EUI64
from duis.signatures import CredentialStore
from duis.signatures.testpki import GBCS_ROLE_CODES, generate_pki, generate_test_pki

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
SUPPLIER, OPERATOR = "90-B3-D5-1F-30-0A-00-00", "90-B3-D5-1F-30-0B-00-00"
DSP = "90-B3-D5-1F-30-00-00-02"
ESME = "00-DB-12-34-56-78-90-A0"
USERS = ["--user", f"{SUPPLIER}:IS,GS", "--user", f"{OPERATOR}:ED,GT"]


def init(tmp_path: Path, *args: str, name: str = "team") -> Path:
    target = tmp_path / name
    assert main(["pki", "init", str(target), *args]) == 0
    return target


def test_init_writes_a_store_of_the_test_pki_shape(tmp_path, capsys):
    target = init(tmp_path, *USERS, "--device", ESME)
    assert f"wrote 24 files to {target}" in capsys.readouterr().out
    store = CredentialStore(target)
    assert store.rejected == []
    assert store.roles_of(SUPPLIER) == {"IS", "GS"} and store.roles_of(OPERATOR) == {"ED", "GT"}
    for eui, code in ((SUPPLIER, "02"), (OPERATOR, "03")):
        xml = store.signing_credential(eui)
        assert xml.organisational_units[0] == "87" and xml.issuer == "CN=DT1,OU=07"
        ds = store.signing_credential(eui, "ds")
        ka = store.key_agreement(eui)
        stem = EUI64.parse(eui).compact.lower()
        assert (ds.path.name, ka.path.name) == (f"{stem}-ds.pem", f"{stem}-ka.pem")
        assert ds.organisational_units == ka.organisational_units == (code,)
        assert ka.private_key is not None
    assert store.dsp_signing_credential().eui == EUI64.parse(DSP)
    assert store.key_agreement(DSP).organisational_units == ("04",)
    assert store.gbcs_credential(DSP, "ds").private_key is not None
    # the device: GBCS device certificates (empty subject) with the emulation's keys
    device = store.key_agreement(ESME)
    assert device.certificate.subject == x509.Name([])
    assert device.private_key is not None
    assert device.private_key.private_numbers() == party_keys(ESME).ka.private_numbers()
    assert (store.gbcs_credential(ESME, "ds").public_key.public_numbers()
            == party_keys(ESME).ds.public_key().public_numbers())


def test_init_is_deterministic_for_a_seed(tmp_path):
    def files(folder: Path) -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in folder.iterdir()}

    first = files(init(tmp_path, *USERS, "--device", ESME, name="a"))
    assert first == files(init(tmp_path, *USERS, "--device", ESME, name="b"))
    other = files(init(tmp_path, *USERS, "--device", ESME, "--seed", "7", name="c"))
    assert set(other) == set(first)
    assert all(other[name] != first[name] for name in first if name.endswith(".key"))
    # the library call, without the command, gives the same bytes (devices aside)
    library = generate_pki({SUPPLIER: ["IS", "GS"], OPERATOR: ["ED", "GT"]})
    assert library == {n: d for n, d in first.items() if not n.startswith("00db")}


def test_the_default_seed_keeps_the_test_pkis_ca_and_dsp(tmp_path):
    """With the default seed a team's store trusts what duis's own DSP signs."""
    team = generate_pki({SUPPLIER: ["IS"]})
    shipped = generate_test_pki()
    for name in ("ca-DT1.pem", "dsp-xml-sign-90B3D51F30000002.pem",
                 "90b3d51f30000002-ka.pem", "90b3d51f30000002-ds.pem"):
        assert team[name] == shipped[name], name


def test_every_duis_user_role_has_a_gbcs_role_code():
    assert set(GBCS_ROLE_CODES) == set(USER_ROLES)
    assert all(re.fullmatch(r"[0-9A-F]{2}", code) for code in GBCS_ROLE_CODES.values())


def test_a_non_empty_directory_needs_force(tmp_path, capsys):
    target = init(tmp_path, *USERS)
    (target / "notes.txt").write_text("mine")
    capsys.readouterr()
    assert main(["pki", "init", str(target), "--user", f"{SUPPLIER}:IS"]) == 2
    err = capsys.readouterr().err
    assert f"duis pki: {target}: directory not empty" in err and "--force" in err
    assert (target / "notes.txt").exists()
    assert main(["pki", "init", str(target), "--user", f"{SUPPLIER}:IS", "--force"]) == 0
    assert not (target / "notes.txt").exists()
    assert CredentialStore(target).roles_of(SUPPLIER) == {"IS"}
    assert CredentialStore(target).for_eui(OPERATOR) == []


@pytest.mark.parametrize(("args", "message"), [
    (["--user", f"{SUPPLIER}:XX"], f"--user {SUPPLIER}:XX: unknown DUIS user role; expected "
                                   "roles from ED, ES, GS, GT, IS, OU, RSA, found 'XX'"),
    (["--user", f"{SUPPLIER}:IS,"], "unknown DUIS user role"),
    (["--user", "90-B3-D5-1F-30-0A-00:IS"], "--user 90-B3-D5-1F-30-0A-00:IS: not an EUI-64; "
                                            "expected 8 hex byte pairs separated by '-'"),
    (["--user", "IS"], "--user IS: a user is EUI:ROLE; expected EUI-64:ROLE[,ROLE]"),
    (["--user", f"{SUPPLIER}:IS", "--user", f"{SUPPLIER.lower()}:GS"],
     f"a user given twice; expected each EUI-64 once (roles separated by commas), "
     f"found {SUPPLIER}"),
    (["--user", f"{DSP}:IS"], f"--dsp: the DSP is not a user; expected an EUI-64 no --user "
                              f"has, found {DSP}"),
    (["--user", f"{SUPPLIER}:IS", "--device", "00DB"], "--device: not an EUI-64"),
    (["--user", f"{SUPPLIER}:IS", "--device", SUPPLIER.lower()],
     f"--device: a device is not a user or the DSP; expected an EUI-64 no --user or --dsp "
     f"has, found {SUPPLIER}"),
    (["--user", f"{SUPPLIER}:IS", "--dsp", "nope"], "--dsp: not an EUI-64"),
])
def test_bad_options_are_named(tmp_path, capsys, args, message):
    target = tmp_path / "team"
    assert main(["pki", "init", str(target), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not target.exists()


def test_a_file_is_not_a_directory(tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("x")
    assert main(["pki", "init", str(target), "--user", f"{SUPPLIER}:IS"]) == 2
    assert f"{target}: not a directory" in capsys.readouterr().err


# --- used by scenarios and duis serve --------------------------------------------------

def _team_world(tmp_path: Path) -> Path:
    """The default world, its Supplier A and network operator replaced by the team's."""
    text = (SAMPLES / "worlds" / "default.toml").read_text()
    text = text.replace("90-B3-D5-1F-30-01-00-00", SUPPLIER).replace(
        "90-B3-D5-1F-30-03-00-00", OPERATOR)
    world = tmp_path / "worlds" / "team.toml"
    world.parent.mkdir(parents=True, exist_ok=True)
    world.write_text(text)
    return world


def _team_scenario(tmp_path: Path) -> Path:
    """The MP105 ESME story (an 11.3, critical: the user's ds key signs its PreCommand),
    every request sent by the team's supplier."""
    _team_world(tmp_path)
    text = (SAMPLES / "scenarios" / "mp105-esme-recovery-by-read.toml").read_text()
    text = text.replace('world = "../worlds/default.toml"', 'world = "../worlds/team.toml"')
    text = text.replace("90-B3-D5-1F-30-01-00-00", SUPPLIER)
    text = text.replace('do = "send"\n', f'do = "send"\nfrom = "{SUPPLIER}"\n')
    assert text.count(f'from = "{SUPPLIER}"') >= 3
    scenario = tmp_path / "scenarios" / "team.toml"
    scenario.parent.mkdir(parents=True, exist_ok=True)
    scenario.write_text(text)
    return scenario


def test_a_scenario_runs_with_a_teams_own_pki(tmp_path, capsys):
    store = init(tmp_path, *USERS)
    scenario = _team_scenario(tmp_path)
    out = tmp_path / "out"
    capsys.readouterr()
    assert main(["run", str(scenario), "--store", str(store), "-q", "-o", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and all(": passed -> " in line for line in lines)
    # what the team's supplier sent is signed with its key and verifies with its store
    sent = sorted((out / "baseline").glob("*request*.xml"))
    assert sent
    assert main(["verify", "--store", str(store), str(sent[0])]) == 0
    # without the team's store, its supplier has no key: the step cannot run
    capsys.readouterr()
    assert main(["run", str(scenario), "-q", "-o", str(tmp_path / "other")]) == 2
    err = capsys.readouterr().err
    assert "no signing credential" in err and SUPPLIER in err


def test_duis_serve_with_a_teams_own_pki(tmp_path):
    from duis.serve import Client, ServeConfig, ServerThread
    store_dir = init(tmp_path, *USERS)
    store = CredentialStore(store_dir)
    read = (SAMPLES / "messages/valid/ECS52_11.2_read_firmware_version_request.xml").read_bytes()
    read = read.replace(b"90-B3-D5-1F-30-01-00-00", SUPPLIER.encode())
    config = ServeConfig(port=0, world=_team_world(tmp_path), store=store_dir)
    with ServerThread(config) as server, Client(server.url, store=store) as client:
        (exchange,) = client.send(read)
        assert exchange.reply.status == 200 and exchange.reply.code == "I99"
        assert str(exchange.verified.signer_eui) == DSP
    # the same request to a server on the test PKI: the team's certificate is unknown
    with ServerThread(ServeConfig(port=0, world=_team_world(tmp_path))) as server, \
            Client(server.url, store=store) as client:
        (exchange,) = client.send(read)
        assert exchange.reply.code != "I99"
