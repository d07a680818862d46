"""Property-based fuzzing of the API with Schemathesis, against the real server (`tally serve`).

Schemathesis reads the service's own description (`/api/openapi.json`), sends requests made from
it (valid ones and deliberately invalid ones) and checks every answer: no 5xx, the status, the
content type, the headers and the body as described. Afterwards the database must pass SQLite's
`PRAGMA integrity_check`. `make test` runs a short, seeded run (tests/web/test_fuzz.py);
`make fuzz` a longer one: `python -m bench.fuzz [seconds] [seed]`.
"""

import os
import re
import sqlite3
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.servers import free_port, start_service, start_simulator, tally
from tests.conftest import MANIFEST_CSV, WRITE_OFF, passing_inspection
from tests.http import Api

# The check that does not apply: a well-formed request refused by a business rule (a closed
# tally, an unknown manifest, a label allowance used up) is right to be refused.
EXCLUDED_CHECKS = ("positive_data_acceptance",)


@dataclass
class Outcome:
    returncode: int
    output: str
    integrity: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and self.integrity == "ok"

    @property
    def operations(self) -> tuple[int, int]:
        """(operations tested, operations in the description), from Schemathesis' summary."""
        described = re.search(r"Selected: \d+/(\d+)", self.output)
        tested = re.search(r"Tested: (\d+)", self.output)
        return (int(tested.group(1)) if tested else 0,
                int(described.group(1)) if described else -1)


def _seed(base: str, token: str) -> None:
    """Consignments for the fuzzer's requests to reach (ids 1 and 2): one with its tally open
    and labels issued, one just arrived."""
    api = Api(base, token)
    ids = {}
    for name in ("open", "arrived"):
        status, manifest = api.call(
            "POST", "/api/manifests",
            data=MANIFEST_CSV.replace("MF-TEST-1", f"MF-FUZZ-{name.upper()}").encode(),
            content_type="text/csv")
        assert status == 201, manifest
        ids[name] = manifest["id"]
    mid = ids["open"]
    lines = [1, 2, 3]
    status, body = api.call("POST", f"/api/manifests/{mid}/inspections",
                            json_body=passing_inspection(lines))
    assert status == 201, body
    status, body = api.call("POST", f"/api/manifests/{mid}/write-off", json_body=WRITE_OFF)
    assert status == 200, body
    status, body = api.call("POST", f"/api/manifests/{mid}/labels",
                            json_body={"line_no": 1, "count": 2})
    assert status == 201, body


def _config(token: str, seed: int, seconds: int) -> str:
    return f"""\
seed = {seed}
max-time = {seconds}
# One worker: with two threads, Hypothesis' ast.parse of lambdas meets a CPython 3.11 race
# ("AST constructor recursion depth mismatch"), a crash of the fuzzer, not of the service.
workers = 1
request-timeout = 30
headers = {{ Authorization = "Bearer {token}" }}

[generation]
max-examples = 200

# An invalid request refused as too large (a body over the JSON limit) is refused all the same.
[checks.negative_data_rejection]
expected-statuses = [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429]
"""


def run(seconds: int = 120, seed: int = 1) -> Outcome:
    """Fuzz a fresh service for about ``seconds``; the outcome of Schemathesis and SQLite."""
    with tempfile.TemporaryDirectory() as tmp:
        db_path = str(Path(tmp) / "fuzz.db")
        env = {**os.environ, "TALLY_DATABASE": db_path}
        tally("migrate", env=env)
        token = tally("token", "create", "--user", "fuzz", "--role", "admin",
                      env=env).strip().splitlines()[-1]
        sim_port, port = free_port(), free_port()
        sim = start_simulator(sim_port)
        server = start_service(db_path, port, f"http://127.0.0.1:{sim_port}",
                               log_path=str(Path(tmp) / "server.log"))
        base = f"http://127.0.0.1:{port}"
        try:
            _seed(base, token)
            config = Path(tmp) / "schemathesis.toml"
            config.write_text(_config(token, seed, seconds))
            done = subprocess.run(
                [str(Path(sys.executable).with_name("st")), "--config-file", str(config), "run",
                 f"{base}/api/openapi.json", "--checks", "all",
                 "--exclude-checks", ",".join(EXCLUDED_CHECKS)],
                cwd=tmp, capture_output=True, text=True, timeout=seconds + 300)
        finally:
            server.stop()
            sim.stop()
        with sqlite3.connect(db_path) as db:
            integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
        return Outcome(done.returncode, done.stdout + done.stderr, integrity)


def main() -> int:
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 900
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    outcome = run(seconds, seed)
    print(outcome.output)
    print(f"integrity_check: {outcome.integrity}")
    return 0 if outcome.ok else 1


if __name__ == "__main__":
    sys.exit(main())
