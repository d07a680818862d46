"""The README's curl walkthrough works as written: run it with bash against a live server."""

import os
import re
import subprocess
from pathlib import Path

from bench.servers import free_port, start_service, tally

README = Path(__file__).resolve().parent.parent / "README.md"


def walkthrough() -> str:
    text = README.read_text(encoding="utf-8")
    return re.search(r"<!-- walkthrough[^>]*-->\n```sh\n(.*?)```", text, re.S).group(1)


def test_readme_walkthrough(tmp_path):
    db_path = str(tmp_path / "readme.db")
    env = {**os.environ, "TALLY_DATABASE": db_path}
    tally("migrate", env=env)
    demo = tally("demo", env=env)
    token = demo.strip().splitlines()[-1]
    port = free_port()
    # No TALLY_CUSTOMS_URL: `tally serve` starts the embedded simulator, as `make run` does.
    server_env = {k: v for k, v in os.environ.items() if k != "TALLY_CUSTOMS_URL"}
    script = (walkthrough()
              .replace("T=paste-the-token-here", f"T={token}")
              .replace("http://127.0.0.1:8000", f"http://127.0.0.1:{port}"))
    server = start_service(db_path, port, "", log_path=str(tmp_path / "server.log"))
    try:
        run = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path,
                             capture_output=True, text=True, timeout=120, env=server_env)
    finally:
        server.stop()
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.strip().splitlines()
    assert "passed" in lines
    assert "101" in lines  # the account book re-imported, looked up by record number
    assert lines.count("4") >= 2  # four items imported; four inventory-list lines from the book
    assert "9530.60000" in lines
    # Created first, declared with its truck, then approved (released) before the gate.
    assert lines.index("created") < lines.index("9530.60000") < lines.index("released")
    assert lines[-2:] == ["pass", "entered"]
    assert (tmp_path / "labels.pdf").read_bytes().startswith(b"%PDF")
    assert (tmp_path / "record-sheet.pdf").read_bytes().startswith(b"%PDF")
