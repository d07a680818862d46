"""A primary lost under load (issue 14, item 4): two `tally serve` processes on one PostgreSQL
database, reached through a multi-host URL (``target_session_attrs=read-write``), a streaming
standby every commit waits for (``synchronous_standby_names``), scans posted through both
servers at once; the primary is stopped hard mid-load and the standby promoted. The servers are
not restarted: they answer again by themselves, the clients retry a failed scan with the same
client_scan_id (as the scan page's queue does), and every scan the service acknowledged is in
the promoted database's ledger exactly once (docs/deploy.md, "Failover")."""

import itertools
import json
import os
import queue
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

from bench.servers import free_port, start_service, start_simulator, tally
from tally.db import now as db_now
from tally.demo import DEMO_SETTINGS
from tests.http import Api, ready_to_tally, wait_for
from tests.pgcluster import Cluster

DATABASE = "tally"
SECRET_KEY = "failover-" + "5" * 55
# Three lines of many units: enough scans to keep both servers busy across the failover.
LINES = {1: 120, 2: 120, 3: 80}
MANIFEST_CSV = (
    "manifest_no,line_no,bill_no,sku,name,gtin,hs_code,origin_country,declared_qty,unit,"
    "unit_value,currency,gross_weight_kg,net_weight_kg\n"
    f"MF-FAILOVER-1,1,BL-9,SKU-MILK,婴儿奶粉 900g,9300633603168,1901101000,AU,{LINES[1]},122,"
    "28.50,USD,3.6,2.7\n"
    f"MF-FAILOVER-1,2,BL-9,SKU-DIAPER,纸尿裤 L,4902011713725,9619001100,JP,{LINES[2]},011,"
    "15.20,USD,3.0,2.8\n"
    f"MF-FAILOVER-1,3,BL-9,SKU-SERUM,Face serum 30ml,,3304990099,FR,{LINES[3]},142,42.00,USD,"
    "0.2,0.1\n"
)
CLIENTS = 6  # scanning threads, each alternating between the two servers
CRASH_AFTER = 100  # acknowledged scans before the primary is stopped
# Between the primary stopping and the standby taking writes (noticing a lost primary takes a
# while): long enough that psycopg-pool's doubling reconnection delay, left alone, would keep the
# servers away for another 8-10 s after the promotion (tally/pg.py, RECONNECT_S).
OUTAGE_S = 20.0
RECOVERY_S = 5.0  # after the promotion, both servers acknowledge scans again within this
RETRY_PAUSE_S = 0.2  # the scan page waits 4 s; the test need not
REQUEST_TIMEOUT_S = 40  # far longer than any wait for a connection (tally/pg.py)


def multi_host_url(*clusters: Cluster) -> str:
    """postgresql://user@H1:P1,H2:P2/db?target_session_attrs=read-write: libpq tries the hosts
    in order and keeps the first that takes writes."""
    hosts = ",".join(f"{c.host}:{c.port}" for c in clusters)
    return (f"postgresql://{clusters[0].user}@{hosts}/{DATABASE}"
            "?target_session_attrs=read-write")


def prepare_consignment(api: Api) -> tuple[int, dict[str, int]]:
    """The manifest imported, inspected, written off, its SKUs in the account book and a label
    issued for every unit: ready to tally. Its id and each unit code's line number."""
    mid = ready_to_tally(api, MANIFEST_CSV)["id"]
    codes = {}
    for line_no, count in LINES.items():
        code, issued = api.call("POST", f"/api/manifests/{mid}/labels",
                                json_body={"line_no": line_no, "count": count})
        assert code == 201, issued
        codes.update((label["code"], line_no) for label in issued["labels"])
    return mid, codes


@dataclass
class Load:
    """What the scanning clients saw: every acknowledged scan, every failed attempt."""

    acked: dict[str, tuple[float, int, dict]] = field(default_factory=dict)  # id: (t, server, r)
    failures: list[tuple[float, int, int | None, str]] = field(default_factory=list)  # t, server,
    # status (None: no answer), what
    wrong: list[tuple[int, str, object]] = field(default_factory=list)  # unexpected answers
    retried: set[str] = field(default_factory=set)  # client scan ids sent more than once
    lock: threading.Lock = field(default_factory=threading.Lock)

    def acknowledged(self) -> list[tuple[float, int, dict]]:
        with self.lock:
            return list(self.acked.values())

    def servers_answering_since(self, moment: float) -> set[int]:
        return {server for t, server, _ in self.acknowledged() if t > moment}


def post_scan(base: str, token: str, mid: int, scan: dict) -> tuple[int | None, object]:
    """One single-scan request: (status, body), or (None, the error) when no answer came."""
    request = urllib.request.Request(
        f"{base}/api/manifests/{mid}/scans", data=json.dumps({"scans": [scan]}).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        body = error.read()
        try:
            return error.code, json.loads(body)
        except ValueError:
            return error.code, body
    except (OSError, ValueError) as error:  # refused, reset, timed out, a cut-off answer
        return None, error


def scan_client(number: int, bases: list[str], token: str, mid: int, work: queue.SimpleQueue,
                load: Load, stop: threading.Event) -> None:
    """Take unit codes until none is left; post each until acknowledged, alternating between
    the servers at every attempt, a retry with the same client_scan_id."""
    servers = itertools.cycle(range(len(bases)))
    for _ in range(number % len(bases)):
        next(servers)
    while not stop.is_set():
        try:
            code = work.get_nowait()
        except queue.Empty:
            return
        scan = {"code": code, "client_scan_id": f"fo-{code}", "device": f"gun-{number}"}
        while not stop.is_set():
            server = next(servers)
            status, body = post_scan(bases[server], token, mid, scan)
            now = time.monotonic()
            if status == 200:
                [result] = body["results"]
                with load.lock:
                    if result["outcome"] == "counted" and \
                            result["client_scan_id"] == scan["client_scan_id"]:
                        load.acked[scan["client_scan_id"]] = (now, server, result)
                    else:
                        load.wrong.append((server, code, body))
                break
            if status is not None and status < 500:  # a refusal is never right here
                with load.lock:
                    load.wrong.append((server, code, (status, body)))
                break
            what = f"{status} {body.get('code')}" if isinstance(body, dict) else \
                f"{status or type(body).__name__}"
            with load.lock:
                load.failures.append((now, server, status, what))
                load.retried.add(scan["client_scan_id"])
            time.sleep(RETRY_PAUSE_S)


def healthy(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/healthz", timeout=5) as response:
            return response.status == 200 and json.loads(response.read()) == {"ok": True}
    except (OSError, ValueError):
        return False


def test_scans_survive_the_primary_failing_over_to_its_synchronous_standby(tmp_path):
    with Cluster(durable=True, name="primary") as primary:
        primary.create_database(DATABASE)
        standby = primary.make_standby("standby")
        # Every commit waits until the standby has flushed it: what a client was told is
        # recorded survives the primary.
        primary.set_synchronous_standby_names(standby.name, synchronous_commit="on")
        assert primary.execute("SHOW synchronous_commit") == [("on",)]
        url = multi_host_url(primary, standby)
        env = {**os.environ, "TALLY_DATABASE": url, "TALLY_SECRET_KEY": SECRET_KEY,
               "TALLY_VAR_DIR": str(tmp_path / "var")}
        tally("migrate", env=env)
        supervisor = tally("token", "create", "--user", "lead", "--role", "supervisor",
                           env=env).strip().splitlines()[-1]
        operator = tally("token", "create", "--user", "gun", "--role", "operator",
                         env=env).strip().splitlines()[-1]
        tally("settings", "set", *(f"{k}={v}" for k, v in DEMO_SETTINGS.items()), env=env)

        sim_port, ports = free_port(), [free_port(), free_port()]
        customs = f"http://127.0.0.1:{sim_port}"
        processes = [start_simulator(sim_port, "--state", str(tmp_path / "sim.json"),
                                     log_path=str(tmp_path / "sim.log"))]
        try:
            for number, port in enumerate(ports):
                processes.append(start_service(
                    url, port, customs, log_path=str(tmp_path / f"server-{number}.log"),
                    TALLY_SECRET_KEY=SECRET_KEY, TALLY_VAR_DIR=str(tmp_path / f"var-{number}"),
                    TALLY_WORKERS="2"))
            servers = processes[1:]
            bases = [f"http://127.0.0.1:{port}" for port in ports]
            mid, codes = prepare_consignment(Api(bases[0], supervisor))

            load, stop, work = Load(), threading.Event(), queue.SimpleQueue()
            for code in codes:
                work.put(code)
            clients = [threading.Thread(target=scan_client, name=f"scanner-{n}",
                                        args=(n, bases, operator, mid, work, load, stop))
                       for n in range(CLIENTS)]
            started = time.monotonic()
            for client in clients:
                client.start()
            try:
                wait_for(lambda: len(load.acknowledged()) >= CRASH_AFTER, timeout=30,
                         interval=0.01)
                crashed, crashed_at = time.monotonic(), db_now()
                primary.stop(mode="immediate")  # a crash: no checkpoint, clients cut off
                time.sleep(OUTAGE_S)
                standby.promote()
                promoted = time.monotonic()
                for client in clients:
                    client.join(timeout=60)
            finally:
                stop.set()
                for client in clients:
                    client.join(timeout=REQUEST_TIMEOUT_S + 5)
            finished = time.monotonic()

            assert not load.wrong, load.wrong[:5]
            assert all(not client.is_alive() for client in clients)
            assert set(load.acked) == {f"fo-{code}" for code in codes}
            # Both servers scanned again after the promotion, without a restart, and answer.
            assert all(server.proc.poll() is None for server in servers)
            assert load.servers_answering_since(promoted) == {0, 1}
            recovered = [min(t for t, s, _ in load.acknowledged() if s == n and t > promoted)
                         - promoted for n in (0, 1)]
            assert max(recovered) < RECOVERY_S, recovered
            assert all(healthy(base) for base in bases)
            # Failures only from the crash on, and only errors of the server or the network.
            assert all(t >= crashed for t, *_ in load.failures), load.failures[:5]
            assert all(status is None or status >= 500 for _, _, status, _ in load.failures), \
                load.failures[:5]

            # The promoted standby holds every acknowledged scan exactly once.
            assert not standby.in_recovery()
            ledger = standby.execute(
                "SELECT s.client_scan_id, s.code, s.outcome, l.line_no, s.created_at FROM scans s"
                " JOIN manifest_lines l ON l.id = s.line_id WHERE s.manifest_id = %s",
                (mid,), dbname=DATABASE)
            ids = [row[0] for row in ledger]
            assert len(ids) == len(set(ids)) == len(codes)
            assert {row[0]: (row[1], row[2], row[3]) for row in ledger} == {
                f"fo-{code}": (code, "counted", line_no) for code, line_no in codes.items()}
            # The counts per line (kept by the line_counts trigger) equal the ledger, and what
            # the clients were told as they scanned never exceeds them.
            per_line = dict(standby.execute(
                "SELECT l.line_no, c.counted FROM line_counts c"
                " JOIN manifest_lines l ON l.id = c.line_id WHERE l.manifest_id = %s",
                (mid,), dbname=DATABASE))
            assert per_line == LINES
            for _, _, result in load.acked.values():
                assert result["line_no"] in LINES
                assert 1 <= result["counted"] <= LINES[result["line_no"]]
            code, report = Api(bases[1], supervisor).call(
                "GET", f"/api/manifests/{mid}/reconciliation")
            assert code == 200, report
            assert {line["line_no"]: line["counted"] for line in report["lines"]} == LINES

            by_kind: dict[str, int] = {}
            for *_, what in load.failures:
                by_kind[what] = by_kind.get(what, 0) + 1
            before = sum(t < crashed for t, _, _ in load.acked.values())
            # Scans whose answer was lost in the crash but whose commit survived on the standby:
            # the retry was answered from the ledger.
            survived = sum(row[0] in load.retried and row[4] < crashed_at for row in ledger)
            last = max((t for t, *_ in load.failures), default=promoted) - promoted
            print(f"\n{len(codes)} scans in {finished - started:.1f} s through 2 servers;"
                  f" primary stopped after {before} acknowledged; promotion took"
                  f" {promoted - crashed:.2f} s; first scan acknowledged after it: server 0"
                  f" +{recovered[0]:.2f} s, server 1 +{recovered[1]:.2f} s; failed attempts"
                  f" {len(load.failures)} {by_kind}, last {last:+.2f} s; {len(load.retried)} scans"
                  f" retried, {survived} of them committed before the crash")
        finally:
            for process in reversed(processes):
                process.stop()
