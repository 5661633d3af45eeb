"""Legacy Word (.doc) and Kingsoft WPS (.wps) files, converted to DOCX by LibreOffice headless.

Both are OLE2 compound files; rather than parse the binary formats ourselves, LibreOffice
(installed by ``scripts/install-debian-packages.sh``) converts them to DOCX, which
:mod:`pipelines.docx` reads. Each process uses its own LibreOffice user profile
(``-env:UserInstallation``): two soffice instances sharing a profile block or fail, and
extraction runs in parallel workers. Calls within one process are serialised by a lock for
the same reason. A timeout bounds what a hostile or broken file can cost.
"""
from __future__ import annotations

import atexit
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from pathlib import Path

from domain.processes import pid_alive
from pipelines.loaded import ExtractionError, LoadedDocument

logger = logging.getLogger(__name__)

CONVERT_TIMEOUT_S = 120
_lock = threading.Lock()
_profile: dict[int, Path] = {}  # pid -> LibreOffice profile dir of this process
_PROFILE_PREFIX = "ogi-lo-profile-"


def load_office(data: bytes, *, content_type: str = "", suffix: str = ".doc") -> LoadedDocument:
    """Convert DOC/WPS ``data`` to DOCX and load that; the caller sets the final format name."""
    from pipelines.docx import load_docx

    doc = load_docx(convert_to_docx(data, suffix=suffix))
    doc.warnings.append("converted to DOCX with LibreOffice")
    return doc


def convert_to_docx(data: bytes, *, suffix: str = ".doc", timeout: float = CONVERT_TIMEOUT_S) -> bytes:
    """DOCX bytes of a document LibreOffice can read; ExtractionError with the reason otherwise."""
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        raise ExtractionError("LibreOffice (soffice) is not installed; run scripts/install-debian-packages.sh")
    with _lock, tempfile.TemporaryDirectory(prefix="ogi-office-") as tmp:
        src = Path(tmp) / f"input{suffix}"
        src.write_bytes(data)
        out_dir = Path(tmp) / "out"
        cmd = [
            soffice, f"-env:UserInstallation={_profile_dir().as_uri()}", "--headless", "--norestore",
            "--nolockcheck", "--convert-to", "docx:MS Word 2007 XML", "--outdir", str(out_dir), str(src),
        ]
        returncode, output = _run(cmd, timeout)
        result = out_dir / "input.docx"
        if not result.exists():
            detail = _tool_message(output)
            raise ExtractionError(f"LibreOffice could not convert the {suffix[1:].upper()} file "
                                  f"(exit {returncode}): {detail or 'no output'}")
        return result.read_bytes()


def _run(cmd: list[str], timeout: float) -> tuple[int, bytes]:
    """Run soffice in its own process group: on timeout the whole group (the launcher and the
    ``soffice.bin`` it starts) is killed, not just the launcher."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise ExtractionError(f"LibreOffice conversion timed out after {timeout:.0f} s") from exc
    return proc.returncode, output


def _profile_dir() -> Path:
    """This process's private LibreOffice profile, created on first use and reused after
    (a fresh profile costs ~0.5 s per conversion). Removed at exit; profiles of processes that
    died without cleaning up (pool workers skip ``atexit``) are swept when a new one is made."""
    pid = os.getpid()
    if pid not in _profile:
        _sweep_stale_profiles()
        path = Path(tempfile.gettempdir()) / f"{_PROFILE_PREFIX}{pid}"
        path.mkdir(exist_ok=True)
        atexit.register(shutil.rmtree, path, ignore_errors=True)
        _profile[pid] = path
    return _profile[pid]


def _sweep_stale_profiles() -> None:
    for path in Path(tempfile.gettempdir()).glob(f"{_PROFILE_PREFIX}*"):
        pid = path.name[len(_PROFILE_PREFIX):]
        if pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)


def _tool_message(output: bytes) -> str:
    """soffice's own message, without the harmless javaldx warning every run prints."""
    lines = output.decode("utf-8", "replace").splitlines()
    return " ".join(line.strip() for line in lines if line.strip() and "javaldx" not in line)[:300]
