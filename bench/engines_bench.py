"""SQLite and PostgreSQL side by side, in one run: the same `tally serve` on each engine with
the app and the database on this machine, single scans and batches of 100 (box order, as
handhelds scan), the same with two app servers sharing the database, and crash runs: app
servers killed with -9 under load, and (PostgreSQL) the database shut down immediately under
load. PostgreSQL runs durable (fsync, synchronous_commit on), as in production.

The detailed SQLite figures (random order, idle connections) are ingest_bench's.
"""

import contextlib
import os
import tempfile
import threading
import time
from pathlib import Path

from bench import ingest_bench as ib
from bench.servers import free_port, start_service, start_simulator, tally
from tally.db import close_db, open_db
from tests.pgcluster import Cluster

ROUNDS = 3
SINGLE_UNITS = 100_000
BATCH_UNITS = 500_000
ENGINES = ("SQLite", "PostgreSQL")


def _environment(db_path: str) -> dict:
    env = {**os.environ, "TALLY_DATABASE": db_path}
    if db_path.startswith("postgresql://"):
        env["TALLY_SECRET_KEY"] = "bench-" + "0" * 58
    return env


MODES = ("single", "batch", "two servers")


class _Engine:
    """One engine's servers (two `tally serve` on its database) and consignment, prepared once
    with units for every run; ``run`` measures one mode once."""

    def __init__(self, db_path: str, tmp: str):
        self.db_path, self.tmp = db_path, tmp
        self.runs: dict[str, list] = {mode: [] for mode in MODES}

    def __enter__(self) -> "_Engine":
        env = _environment(self.db_path)
        tally("migrate", env=env)
        self.token = tally("token", "create", "--user", "bench", "--role", "supervisor",
                           env=env).strip().splitlines()[-1]
        sim_port, port, port2 = free_port(), free_port(), free_port()
        customs = f"http://127.0.0.1:{sim_port}"
        self.processes = [start_simulator(sim_port)]
        try:
            self.server = start_service(self.db_path, port, customs)
            self.processes.append(self.server)
            self.base, self.base2 = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port2}"
            self.mid, codes = ib._prepare(self.base, self.token,
                                          ROUNDS * (2 * SINGLE_UNITS + BATCH_UNITS))
            self.pool = sorted(codes, key=ib.parse_serial)
            self.processes.append(start_service(self.db_path, port2, customs))
            _settle(self.db_path, "VACUUM ANALYZE")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        for process in reversed(self.processes):
            process.stop()

    def run(self, round_no: int, mode: str) -> None:
        """Single scans or batches through one server, or single scans through both servers
        (half the clients each, at once); the ledger checked after."""
        _settle(self.db_path, "ANALYZE")
        units = BATCH_UNITS if mode == "batch" else SINGLE_UNITS
        taken, self.pool = ib._box_order(self.pool[:units]), self.pool[units:]
        run_id = f"e{mode[0]}{round_no}"
        if mode == "two servers":
            result = _two_servers(self.base, self.base2, self.token, self.mid, taken, self.tmp,
                                  run_id, self.server)
        else:
            result = ib._wrk_run(self.base, self.token, self.mid, taken, self.tmp,
                                 run_id=run_id, mode=mode, batch=100 if mode == "batch" else 1,
                                 process=self.server)
        ids = [run_id + "a", run_id + "b"] if mode == "two servers" else [run_id]
        checks = [ib._count_check(self.db_path, self.mid, i, 0) for i in ids]
        result["check"] = {
            "counted": sum(c["counted"] for c in checks),
            "ledger_rows": sum(c["ledger_rows"] for c in checks),
            "ok": all(c["ok"] for c in checks) and sum(
                c["ledger_rows"] for c in checks) >= result["scans_acknowledged"]}
        self.runs[mode].append(result)


def _settle(db_path: str, command: str) -> None:
    """PostgreSQL: bring the planner's statistics up to date before a run, as autovacuum has
    in a database that grows at the pace of real scanning (a few hundred rows a second, not the
    hundreds of thousands a run adds): the units just issued, the ledger of the runs before.
    VACUUM also spares the run autovacuum's pass over the units. Nothing on SQLite, which keeps
    no statistics unless told to."""
    if not db_path.startswith("postgresql://"):
        return
    db = open_db(db_path)
    try:
        db.execute(command)
    finally:
        close_db(db)


def _two_servers(base1, base2, token, mid, codes, tmp, run_id, process) -> dict:
    """Half the clients on each server at once; their scans/s summed, the worse p99."""
    halves, results = [codes[0::2], codes[1::2]], [None, None]

    def one(i, base):
        results[i] = ib._wrk_run(base, token, mid, halves[i], tmp, run_id=f"{run_id}{'ab'[i]}",
                                 mode="single", batch=1, process=process,
                                 clients=ib.CLIENTS // 2)

    threads = [threading.Thread(target=one, args=(i, b)) for i, b in enumerate((base1, base2))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    a, b = results
    return {"scans_per_s": a["scans_per_s"] + b["scans_per_s"],
            "p50_ms": max(a["p50_ms"], b["p50_ms"]), "p99_ms": max(a["p99_ms"], b["p99_ms"]),
            "server_cpu": a["server_cpu"], "non2xx": a["non2xx"] + b["non2xx"],
            "scans_acknowledged": a["scans_acknowledged"] + b["scans_acknowledged"]}


def _database_crash(cluster: Cluster):
    """PostgreSQL shut down immediately under load (no checkpoint: recovery replays the WAL)
    and started again; the app server stays up and reconnects."""
    def crash(server, _restart):
        cluster.stop(mode="immediate")
        time.sleep(0.5)
        cluster.start()
        return server
    return crash


def run() -> str:
    crashes = {}
    with tempfile.TemporaryDirectory() as tmp, Cluster(durable=True, name="bench") as cluster:
        cluster.create_database("bench")
        targets = {"SQLite": str(Path(tmp) / "engines.db"), "PostgreSQL": cluster.url("bench")}
        with contextlib.ExitStack() as stack:
            engines = {name: stack.enter_context(_Engine(targets[name], tmp))
                       for name in ENGINES}
            # The engines take turns, run by run: a slow spell of the shared host falls on both.
            for round_no in range(ROUNDS):
                for mode in MODES:
                    for engine in engines.values():
                        engine.run(round_no, mode)
        results = {name: engine.runs for name, engine in engines.items()}
        crashes["SQLite, app server killed"] = ib._crash_rounds(
            tmp, db_path=str(Path(tmp) / "crash.db"))
        for name, crash in (("app server killed", None),
                            ("database shut down immediately", _database_crash(cluster))):
            database = f"crash_{len(crashes)}"
            cluster.create_database(database)
            crashes[f"PostgreSQL, {name}"] = ib._crash_rounds(
                tmp, db_path=cluster.url(database), crash=crash)
    return _markdown(results, crashes)


def _median(results, key):
    return sorted(r[key] for r in results)[len(results) // 2]


def _markdown(results, crashes) -> str:
    rows = []
    for mode in MODES:
        cells = []
        for engine in ENGINES:
            runs = results[engine][mode]
            ok = all(r["check"]["ok"] for r in runs) and not any(r["non2xx"] for r in runs)
            cells.append(f"{_median(runs, 'scans_per_s'):,.0f} | {_median(runs, 'p99_ms'):.1f}"
                         f" | {'ok' if ok else 'MISMATCH'}")
        sqlite, postgres = (_median(results[e][mode], "scans_per_s") for e in ENGINES)
        rows.append(f"| {mode} | {' | '.join(cells)} | {postgres / sqlite:.0%} |")
    crash_rows = [
        f"| {name} | {c['acknowledged']:,} | {c['missing']} | {c['answer_changed']} |"
        f" {c['repeated']} | {c['counted_twice']} |" for name, c in crashes.items()]
    runs_detail = [
        f"| {engine}, {mode}, run {i + 1} | {r['scans_per_s']:,.0f} | {r['p50_ms']:.1f} |"
        f" {r['p99_ms']:.1f} | {r['non2xx']} | {r['check']['counted']:,} counted |"
        for i in range(ROUNDS) for mode in MODES for engine in ENGINES  # in the order run
        for r in [results[engine][mode][i]]]
    return "\n".join([
        "## SQLite and PostgreSQL side by side",
        "",
        f"The same `tally serve` on each engine, app and database on this one machine; wrk with"
        f" {ib.CLIENTS} connections, {ib.DURATION_S} s a run, {ROUNDS} rounds, box order (as"
        " handhelds scan), every scan a distinct unit. *two servers*: two `tally serve` on the"
        f" same database, {ib.CLIENTS // 2} connections each, at once. PostgreSQL 15 durable"
        " (fsync and synchronous_commit on), its statistics brought up to date before each run"
        " (ANALYZE). The engines take turns run by run (in the order of the last table), so"
        " that a slow spell of the shared host falls on both. Medians; last column PostgreSQL's"
        " scans/s as a share of SQLite's.",
        "",
        "| workload | SQLite scans/s | p99 ms | check | PostgreSQL scans/s | p99 ms | check |"
        " PG / SQLite |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        "Crash runs (3 rounds each, 8 clients, retry of what was in flight):",
        "",
        "| crash | acknowledged | missing | answer changed | recorded twice | counted twice |",
        "|---|---|---|---|---|---|",
        *crash_rows,
        "",
        "| run | scans/s | p50 ms | p99 ms | non-2xx | count check |",
        "|---|---|---|---|---|---|",
        *runs_detail,
        "",
    ])


if __name__ == "__main__":
    print(run())
