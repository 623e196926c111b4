"""The DCC's own signing tool, as a peer to test and benchmark against.

``npm pack @smartdcc/duis-sign-wrap`` gives ``dist/tool.jar`` (the DCC Boxed
xmldsig tool, run as ``java -cp tool.jar uk.co.smartdcc.boxed.xmldsig.Sign|Validate
FILE``).  It is fetched once into a cache directory outside the repository
(``$DUIS_CACHE`` or ``~/.cache/duis``) and never committed; ``$DUIS_DCC_TOOL_JAR``
points at a copy you already have.  The jar bundles the ZAZ1 test
certificates and keys it signs with; :func:`extract_credentials` copies them
out so duis can use the very same ones.

What the tool does (version 0.1.2 of the package, xmldsig 1.0.6):

* parses with a schema-aware parser (DUIS 5.1 XSD) that drops whitespace in
  element-only content, validates, and only then signs or verifies — so it
  refuses documents signed with whitespace between elements;
* ``Sign`` removes every existing signature, replaces the RequestID counter
  with ``System.currentTimeMillis()`` unless ``--preserveCounter``, finds cert
  and key by the RequestID originator, and writes the signed document
  (``standalone="no"``, SignatureValue base64 wrapped at 76 columns with CRLF,
  the CR escaped as ``&#13;``);
* ``Validate`` looks the certificate up by serial number only, verifies, and
  prints the digested bytes (inclusive C14N of the document without the
  signature); exit codes 0 ok, 2 error, 3 missing key, 10 validation failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "@smartdcc/duis-sign-wrap"
MAIN = "uk.co.smartdcc.boxed.xmldsig"
JAR_ENV = "DUIS_DCC_TOOL_JAR"
CACHE_ENV = "DUIS_CACHE"


class ToolUnavailable(Exception):
    """Java or the tool cannot be had here; the message says why."""


def cache_directory() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "duis")


def java() -> str:
    found = shutil.which("java")
    if not found:
        raise ToolUnavailable("java is not installed (the DCC tool is a Java program)")
    return found


def tool_jar(fetch: bool = True, timeout: float = 180) -> Path:
    """The tool's jar: ``$DUIS_DCC_TOOL_JAR``, the cache, or fetched with npm."""
    configured = os.environ.get(JAR_ENV)
    if configured:
        if not Path(configured).is_file():
            raise ToolUnavailable(f"{JAR_ENV}={configured} is not a file")
        return Path(configured)
    target = cache_directory() / "duis-sign-wrap"
    jar = target / "package" / "dist" / "tool.jar"
    if jar.is_file():
        return jar
    if not fetch:
        raise ToolUnavailable(f"{jar} absent and fetching disabled")
    npm = shutil.which("npm")
    if not npm:
        raise ToolUnavailable(f"npm is not installed, cannot fetch {PACKAGE}")
    target.mkdir(parents=True, exist_ok=True)
    try:
        result = subprocess.run([npm, "pack", PACKAGE, "--pack-destination", str(target)],
                                capture_output=True, text=True, timeout=timeout, cwd=target)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolUnavailable(f"npm pack {PACKAGE} failed: {exc}") from None
    archives = sorted(target.glob("smartdcc-duis-sign-wrap-*.tgz"))
    if result.returncode != 0 or not archives:
        raise ToolUnavailable(f"npm pack {PACKAGE} failed (network?): "
                              f"{(result.stderr or result.stdout).strip()[-300:]}")
    with tarfile.open(archives[-1]) as archive:
        archive.extractall(target, filter="data")
    if not jar.is_file():
        raise ToolUnavailable(f"{PACKAGE} has no dist/tool.jar")
    return jar


@dataclass(frozen=True)
class ToolResult:
    returncode: int
    stdout: bytes
    stderr: str


def run(mode: str, data: bytes, *, jar: Path | None = None, preserve_counter: bool = False,
        timeout: float = 120) -> ToolResult:
    """Run ``Sign`` or ``Validate`` on ``data`` (given on stdin, as the npm wrapper does)."""
    command = [java(), "-cp", str(jar or tool_jar()), f"{MAIN}.{mode}", "-"]
    if preserve_counter:
        command.append("--preserveCounter")
    result = subprocess.run(command, input=data, capture_output=True, timeout=timeout)
    return ToolResult(result.returncode, result.stdout, result.stderr.decode("utf-8", "replace"))


def extract_credentials(directory: Path, jar: Path | None = None) -> Path:
    """Copy the certificates and keys bundled in the jar into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(jar or tool_jar()) as archive:
        for name in archive.namelist():
            if "/" not in name and name.endswith((".pem", ".key")):
                (directory / name).write_bytes(archive.read(name))
    return directory
