"""Start the real service and the customs simulator as processes on free ports (tests, benches)."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tally(*args: str, env: dict | None = None) -> str:
    """Run a ``tally`` CLI command to completion; return its stdout."""
    return subprocess.run(
        [sys.executable, "-m", "web.cli", *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def service_env(db_path: str, port: int, customs_url: str, **extra: str) -> dict:
    env = {
        **os.environ,
        "TALLY_DATABASE": db_path,
        "TALLY_PORT": str(port),
        "TALLY_CUSTOMS_URL": customs_url,
        **extra,
    }
    if db_path.startswith("postgresql://"):  # app servers sharing it share one session key
        env.setdefault("TALLY_SECRET_KEY", "bench-" + "0" * 58)
    return env


def wait_http(url: str, timeout: float = 20.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


class Process:
    """A child process in its own process group, stopped (or killed) as a whole."""

    def __init__(self, args: list[str], env: dict, log_path: str | None = None):
        self.log = open(log_path or os.devnull, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            args,
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()

    def kill(self) -> None:
        """kill -9 of the whole group: server, workers, outbox worker."""
        self.stop(signal.SIGKILL)


def start_service(
    db_path: str, port: int, customs_url: str, log_path: str | None = None, **extra: str
) -> Process:
    """``tally serve`` on the port; returns once /healthz answers."""
    process = Process(
        [sys.executable, "-m", "web.cli", "serve"],
        service_env(db_path, port, customs_url, **extra),
        log_path,
    )
    wait_http(f"http://127.0.0.1:{port}/healthz", proc=process.proc)
    return process


def start_simulator(port: int, *args: str, log_path: str | None = None) -> Process:
    """``tally customs-sim`` on the port; returns once it answers."""
    process = Process(
        [sys.executable, "-m", "web.cli", "customs-sim", "--port", str(port), *args],
        dict(os.environ),
        log_path,
    )
    wait_http(f"http://127.0.0.1:{port}/_control", proc=process.proc)
    return process
