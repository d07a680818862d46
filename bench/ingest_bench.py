"""Wedge-scan ingestion through the real server (`tally serve`: granian, SQLite file):
32 concurrent wrk clients sending single scans and 100-scan batches, then a crash run that kills
the server with -9 under load and checks every acknowledged scan after the restart.

Two workloads, every scan a distinct unit either way:

- box order, as handhelds scan: labels are issued box by box, so a box's units have consecutive
  serials, and each of the 32 operators works through a box of their own; the server sees their
  scans interleaved.
- random order, the worst case: every scan a unit anywhere in the consignment. Each 100-scan batch
  then touches ~100 distinct leaves of the counted-unit index and of the units table, where box
  order touches a few; docs/ingestion.md has what that costs.
"""

import json
import os
import random
import re
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from bench.servers import free_port, start_service, start_simulator, tally
from tally.config import from_env
from tally.db import close_db, open_db
from tally.units import parse_serial
from tests.conftest import WRITE_OFF, passing_inspection
from web.server import THREADS, workers

CLIENTS = 32
DURATION_S = 10
# The machine is shared and noisy (+-20 % between minutes): each run is repeated, alternating
# single scans and batches, and the median reported beside every run.
ROUNDS = 3
# Distinct units for each run: more than the server can take in DURATION_S, so that every scan
# counts a new unit and the count check can be exact.
SINGLE_UNITS = 80_000
BATCH_UNITS = 500_000
ORDERS = ("box", "random")
BOX = 100  # units to a box
IDLE_CONNECTIONS = 200

WRK_SCRIPT = r"""
local codes = {}
-- tid is a per-thread global set by setup() below (a local here would shadow it)
local counter = 0
local mode = os.getenv("SCAN_MODE") or "single"
local batch = tonumber(os.getenv("SCAN_BATCH") or "100")
local run = os.getenv("SCAN_RUN") or "r"
for line in io.lines(os.getenv("SCAN_CODES")) do codes[#codes + 1] = line end
local n_threads = tonumber(os.getenv("SCAN_THREADS"))
local next_id = 0
function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
end
function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("SCAN_TOKEN")
end
local function one()
  local i = tid + counter * n_threads + 1
  counter = counter + 1
  local code = codes[i] or "U000000000000"
  -- Time-ordered ids, as the handheld page makes them (milliseconds first).
  local id = run .. '-' .. string.format("%012d", i)
  return '{"code":"' .. code .. '","client_scan_id":"' .. id .. '","device":"wrk"}'
end
function request()
  if mode == "single" then
    return wrk.format(nil, nil, nil, one())
  end
  local items = {}
  for k = 1, batch do items[k] = one() end
  return wrk.format(nil, nil, nil, '{"scans":[' .. table.concat(items, ",") .. ']}')
end
"""


def _cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _group_pids(pgid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid:
                pids.append(int(entry.name))
    return pids


def _post(base, token, path, body, timeout=10):
    request = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def _retried(base, token, path, body, seconds=60.0):
    """_post until it is answered, as the scan page retries (a restarting database answers
    503, a restarting server not at all)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return _post(base, token, path, body)
        except (urllib.error.URLError, OSError, ValueError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _prepare(base, token, n_units, line_count=50):
    lines = [
        {
            "line_no": i,
            "sku": f"SKU-{i}",
            "name": f"Item {i}",
            "declared_qty": n_units // line_count,
        }
        for i in range(1, line_count + 1)
    ]
    mid = _post(
        base, token, "/api/manifests", {"manifest_no": f"BENCH-{random.random()}", "lines": lines}
    )["id"]
    # The tally opens after inspection and write-off, as in production.
    _post(base, token, f"/api/manifests/{mid}/inspections",
          passing_inspection(range(1, line_count + 1)))
    _post(base, token, f"/api/manifests/{mid}/write-off", WRITE_OFF)
    codes = []
    for i in range(1, line_count + 1):
        left = n_units // line_count
        while left:
            count = min(left, 10_000)
            codes += [
                x["code"]
                for x in _post(
                    base, token, f"/api/manifests/{mid}/labels", {"line_no": i, "count": count}
                )["labels"]
            ]
            left -= count
    random.Random(1).shuffle(codes)
    return mid, codes


def _box_order(codes: list[str], clients: int = CLIENTS, box: int = BOX) -> list[str]:
    """The codes as ``clients`` operators scan them, each through boxes of ``box`` consecutive
    serials of their own, a new box when one is done; their scans interleaved (wrk's two threads
    take alternate positions, so each thread's connections share half of the open boxes)."""
    ordered = sorted(codes, key=parse_serial)
    boxes = [ordered[i:i + box] for i in range(0, len(ordered), box)]
    return [
        b[k]
        for g in range(0, len(boxes), clients)
        for k in range(box)
        for b in boxes[g:g + clients]
        if k < len(b)
    ]


def _parse_wrk(text: str) -> dict:
    def ms(value: str) -> float:
        number, unit = re.match(r"([\d.]+)(\w+)", value).groups()
        return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    pct = dict(re.findall(r"^\s+(50|99)(?:\.000)?%\s+(\S+)", text, re.M))
    requests = int(re.search(r"(\d+) requests in", text).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors = re.search(r"Socket errors: (.*)", text)
    return {
        "requests": requests,
        "p50_ms": ms(pct["50"]),
        "p99_ms": ms(pct["99"]),
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(1) if errors else "none",
    }


def _healthz_run(base) -> float:
    """Requests/s of GET /healthz with the scans' wrk settings: the same server's floor."""
    out = subprocess.run(["wrk", "-t2", f"-c{CLIENTS}", f"-d{DURATION_S}s", "--latency",
                          f"{base}/healthz"],
                         capture_output=True, text=True, check=True).stdout
    return _parse_wrk(out)["requests"] / DURATION_S


def _idle_connections(base, count: int) -> list[socket.socket]:
    """``count`` connections that send nothing (a handheld gone out of Wi-Fi range)."""
    host, port = base.removeprefix("http://").split(":")
    return [socket.create_connection((host, int(port))) for _ in range(count)]


def _wrk_run(base, token, mid, codes, tmp, *, mode, batch, run_id, process, idle=0,
             clients=CLIENTS):
    codes_file = Path(tmp) / f"codes-{run_id}.txt"
    codes_file.write_text("\n".join(codes) + "\n")
    script = Path(tmp) / f"scan-{run_id}.lua"  # its own: two runs at once (two servers)
    script.write_text(WRK_SCRIPT)
    env = {
        **os.environ,
        "SCAN_CODES": str(codes_file),
        "SCAN_TOKEN": token,
        "SCAN_MODE": mode,
        "SCAN_BATCH": str(batch),
        "SCAN_RUN": run_id,
        "SCAN_THREADS": "2",
    }
    pids = _group_pids(process.proc.pid)
    held = _idle_connections(base, idle)
    cpu0, t0 = _cpu_seconds(pids), time.monotonic()
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{clients}",
            f"-d{DURATION_S}s",
            "--latency",
            "-s",
            str(script),
            f"{base}/api/manifests/{mid}/scans",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    wall = time.monotonic() - t0
    cpu = _cpu_seconds(pids) - cpu0
    for sock in held:
        sock.close()
    result = _parse_wrk(out)
    scans_sent = result["requests"] * (batch if mode == "batch" else 1)
    result.update(
        wall_s=wall,
        server_cpu=cpu / wall,
        scans_per_s=scans_sent / DURATION_S,
        scans_acknowledged=scans_sent,
    )
    return result


def _count_check(db_path, mid, run_id, expected):
    db = open_db(db_path)
    rows = db.execute(
        "SELECT count(*), sum(CASE WHEN outcome = 'counted' THEN 1 ELSE 0 END),"
        " count(DISTINCT client_scan_id)"
        " FROM scans WHERE manifest_id = ? AND client_scan_id LIKE ?",
        [mid, run_id + "-%"],
    ).fetchone()
    close_db(db)
    # wrk may stop with requests in flight that the server still committed: never fewer.
    return {
        "ledger_rows": rows[0],
        "counted": rows[1] or 0,
        "distinct_ids": rows[2],
        "ok": rows[0] == rows[2] == (rows[1] or 0) and rows[0] >= expected,
    }


def _crash_rounds(tmp, rounds=3, clients=8, seconds=2.0, *, db_path=None, crash=None):
    """kill -9 under load, restart, every acknowledged scan present exactly once. ``crash``
    (given the server; returns the server to go on with): what happens under load, by default
    the server killed and started again."""
    db_path = db_path or str(Path(tmp) / "crash.db")
    sim_port, port = free_port(), free_port()
    sim = start_simulator(sim_port)
    customs = f"http://127.0.0.1:{sim_port}"
    tally("migrate", env={**os.environ, "TALLY_DATABASE": db_path})
    token = (
        tally(
            "token",
            "create",
            "--user",
            "crash",
            "--role",
            "supervisor",
            env={**os.environ, "TALLY_DATABASE": db_path},
        )
        .strip()
        .splitlines()[-1]
    )
    base = f"http://127.0.0.1:{port}"
    server = start_service(db_path, port, customs)
    mid, codes = _prepare(base, token, 60_000, line_count=10)
    acked: dict[str, dict] = {}
    lock = threading.Lock()
    next_index = [0]
    total_acked = 0
    try:
        for round_no in range(rounds):
            stop = threading.Event()
            in_flight: list[tuple[str, str]] = []

            def client(stop=stop, in_flight=in_flight, round_no=round_no):
                while not stop.is_set():
                    with lock:
                        i = next_index[0]
                        next_index[0] += 1
                    cid = f"crash-{round_no}-{i}"
                    body = {"code": codes[i], "client_scan_id": cid}
                    try:
                        answer = _post(base, token, f"/api/manifests/{mid}/scans", body, timeout=5)
                    except (urllib.error.URLError, OSError, ValueError):
                        with lock:
                            in_flight.append((cid, codes[i]))
                        continue
                    with lock:
                        acked[cid] = answer["results"][0]

            threads = [threading.Thread(target=client) for _ in range(clients)]
            for t in threads:
                t.start()
            time.sleep(seconds)
            if crash is None:
                server.kill()
            else:
                server = crash(server, lambda: start_service(db_path, port, customs))
            stop.set()
            for t in threads:
                t.join()
            if crash is None:
                server = start_service(db_path, port, customs)
            # Clients retry what was not acknowledged: the stored answer, or a first count.
            for cid, code in in_flight:
                acked[cid] = _retried(base, token, f"/api/manifests/{mid}/scans",
                                      {"code": code, "client_scan_id": cid})["results"][0]
        total_acked = len(acked)
        db = open_db(db_path)
        stored = {
            cid: json.loads(result)
            for cid, result in db.execute(
                "SELECT client_scan_id, result FROM scans WHERE manifest_id = ?", [mid]
            )
        }
        per_id = dict(
            db.execute(
                "SELECT client_scan_id, count(*) FROM scans"
                " WHERE manifest_id = ? GROUP BY client_scan_id",
                [mid],
            )
        )
        integrity = (db.execute("PRAGMA integrity_check").fetchone()[0]
                     if db.engine == "sqlite" else "n/a (PostgreSQL)")
        counted_twice = db.execute(
            "SELECT count(*) FROM (SELECT unit_id FROM scans WHERE"
            " outcome = 'counted' GROUP BY unit_id HAVING count(*) > 1) AS twice"
        ).fetchone()[0]
        close_db(db)
        missing = [cid for cid in acked if cid not in stored]
        changed = [cid for cid, answer in acked.items() if stored.get(cid) != answer]
        repeated = [cid for cid, n in per_id.items() if n != 1]
        return {
            "rounds": rounds,
            "acknowledged": total_acked,
            "missing": len(missing),
            "answer_changed": len(changed),
            "repeated": len(repeated),
            "counted_twice": counted_twice,
            "integrity": integrity,
        }
    finally:
        server.stop()
        sim.stop()


def run() -> str:
    with tempfile.TemporaryDirectory() as tmp:
        db_path = str(Path(tmp) / "bench.db")
        env = {**os.environ, "TALLY_DATABASE": db_path}
        tally("migrate", env=env)
        token = (
            tally("token", "create", "--user", "bench", "--role", "supervisor", env=env)
            .strip()
            .splitlines()[-1]
        )
        sim_port, port = free_port(), free_port()
        sim = start_simulator(sim_port)
        server = start_service(db_path, port, f"http://127.0.0.1:{sim_port}")
        base = f"http://127.0.0.1:{port}"
        runs = {(mode, order): [] for mode in ("single", "batch") for order in ORDERS}
        runs["idle", "box"], healthz = [], []
        per_round = 2 * SINGLE_UNITS + BATCH_UNITS
        try:
            mid, codes = _prepare(base, token, ROUNDS * len(ORDERS) * per_round)
            # Box runs take consecutive serials, random runs a shuffled pool of the others.
            by_serial = sorted(codes, key=parse_serial)
            upper = set(by_serial[ROUNDS * per_round:])
            pools = {"box": by_serial[: ROUNDS * per_round],
                     "random": [code for code in codes if code in upper]}
            for round_no in range(ROUNDS):
                healthz.append(_healthz_run(base))
                for order in ORDERS:
                    for mode, size, units in (("single", 1, SINGLE_UNITS),
                                              ("idle", 1, SINGLE_UNITS),
                                              ("batch", 100, BATCH_UNITS)):
                        if (mode, order) not in runs:
                            continue
                        taken, pools[order] = pools[order][:units], pools[order][units:]
                        if order == "box":
                            taken = _box_order(taken)
                        run_id = f"{mode[0]}{order[0]}{round_no}"
                        result = _wrk_run(base, token, mid, taken, tmp, batch=size,
                                          mode="batch" if mode == "batch" else "single",
                                          run_id=run_id, process=server,
                                          idle=IDLE_CONNECTIONS if mode == "idle" else 0)
                        result["check"] = _count_check(db_path, mid, run_id,
                                                       result["scans_acknowledged"])
                        runs[mode, order].append(result)
        finally:
            server.stop()
            sim.stop()
        crash = _crash_rounds(tmp)
    return _markdown(runs, healthz, crash)


def _markdown(runs, healthz, crash) -> str:
    def row(name, r):
        check = r["check"]
        return (
            f"| {name} | {r['scans_per_s']:,.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} "
            f"| {r['server_cpu'] * 100:.0f} % | {r['non2xx']} | "
            f"{check['counted']:,} counted of {check['ledger_rows']:,} rows, "
            f"{'ok' if check['ok'] else 'MISMATCH'} |"
        )

    def median(results):
        """The median scans/s and the median p99 of a workload's runs."""
        middle = sorted(results, key=lambda r: r["scans_per_s"])[len(results) // 2]
        return middle["scans_per_s"], sorted(r["p99_ms"] for r in results)[len(results) // 2]

    def median_row(name, results):
        scans_per_s, p99 = median(results)
        return f"| **{name}, median** | **{scans_per_s:,.0f}** | | **{p99:.1f}** | | | |"

    names = {"single": "single scans", "batch": "batches of 100",
             "idle": f"single scans with {IDLE_CONNECTIONS} idle connections open"}
    summary, rows = [], []
    single_box, _ = median(runs["single", "box"])
    idle_box, idle_p99 = median(runs["idle", "box"])
    for order, label in (("box", "box order (how handhelds scan)"),
                         ("random", "random order (worst case)")):
        (single, single_p99), (batch, batch_p99) = median(runs["single", order]), median(
            runs["batch", order])
        summary.append(f"| {label} | {single:,.0f} | {single_p99:.1f} | {batch:,.0f} "
                       f"| {batch_p99:.1f} |")
        for mode in ("single", "idle", "batch"):
            if (mode, order) not in runs:
                continue
            rows += [row(f"{names[mode]}, {order} order, run {i + 1}", r)
                     for i, r in enumerate(runs[mode, order])]
            rows.append(median_row(f"{names[mode]}, {order} order", runs[mode, order]))
    return "\n".join(
        [
            "## Wedge-scan ingestion",
            "",
            f"`tally serve` (granian, {workers(from_env())} workers x {THREADS} threads) on a"
            f" SQLite file; wrk with {CLIENTS} connections, {DURATION_S} s per run, {ROUNDS}"
            " rounds of single scans and batches in two workloads, every scan a distinct unit:"
            f" *box order*, as handhelds scan ({CLIENTS} operators each working through boxes"
            f" of {BOX} units with consecutive serials, interleaved), and *random order*, the"
            " worst case (every scan a unit anywhere in the consignment). Server CPU: % of one"
            " core, summed over the server's processes; p50/p99 per request. What was changed"
            " to get here, what was"
            " tried and left, and why: docs/ingestion.md.",
            "",
            "| workload, medians | single scans/s | p99 ms | batch scans/s | p99 ms |",
            "|---|---|---|---|---|",
            *summary,
            "",
            f"The same server's `GET /healthz` (no database write), one run a round: "
            f"{', '.join(f'{h:,.0f}' for h in healthz)} requests/s; box-order single scans"
            f" are {single_box / sorted(healthz)[len(healthz) // 2]:.0%} of its median. With"
            f" {IDLE_CONNECTIONS} connections open that send nothing, box-order single scans"
            f" ran at {idle_box:,.0f}/s (p99 {idle_p99:.1f} ms), {idle_box / single_box:.0%} of"
            " the runs without.",
            "",
            "| run | scans/s | p50 ms | p99 ms | server CPU | non-2xx | count check |",
            "|---|---|---|---|---|---|---|",
            *rows,
            "",
            f"Crash run: {crash['rounds']} rounds of `kill -9` of the whole server under 8"
            " clients, "
            f"restart, retry of what was in flight: {crash['acknowledged']:,} acknowledged scans, "
            f"{crash['missing']} missing, {crash['answer_changed']} with a changed answer, "
            f"{crash['repeated']} recorded twice, {crash['counted_twice']} units counted twice, "
            f"integrity_check {crash['integrity']}.",
            "",
        ]
    )


if __name__ == "__main__":
    print(run())
