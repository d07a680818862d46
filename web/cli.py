"""The ``tally`` console command: serve, migrate, import manifests, print labels, report, tokens,
the outbox worker and the customs simulator."""

import argparse
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time

from tally import config as tally_config
from tally.db import Unavailable, close_db, migrate, open_db
from tally.pg import redact

log = logging.getLogger("tally")
# While the database cannot be reached, the outbox worker tries again this often, and
# `tally serve` starts a worker again this long after one stopped.
RETRY_S = 2.0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="tally", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="serve the app with granian (+ outbox worker, + simulator)")
    sub.add_parser("migrate", help="create or upgrade the database schema")
    sub.add_parser("demo", help="load the demo manifest into an empty database; print a token")
    sub.add_parser("worker", help="run the outbox delivery worker in the foreground")
    p = sub.add_parser("import-manifest", help="import a manifest CSV (or .json) file")
    p.add_argument("file")
    p = sub.add_parser("labels", help="write all issued labels of a manifest to a file")
    p.add_argument("manifest_id", type=int)
    p.add_argument("--format", choices=("pdf", "zpl"), default="pdf")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--size", default="50x30", help="label size in mm, e.g. 50x30")
    p.add_argument("--sheet", choices=("a4",), help="A4 sheets instead of one label per page")
    p.add_argument("--dpi", type=int, choices=(203, 300))
    p.add_argument("--line-no", type=int)
    p.add_argument("--box-no")
    p = sub.add_parser("report", help="print the reconciliation of a manifest")
    p.add_argument("manifest_id", type=int)
    p.add_argument("--format", choices=("text", "csv", "json"), default="text")
    p = sub.add_parser("token", help="user tokens")
    token_sub = p.add_subparsers(dest="token_command", required=True)
    p = token_sub.add_parser("create", help="create a token (and the user if new)")
    p.add_argument("--user", required=True)
    p.add_argument("--role", required=True, choices=("operator", "supervisor", "admin"))
    p = token_sub.add_parser("revoke", help="revoke every token of a user (a handheld lost);"
                             " the servers refuse them within 2 s")
    p.add_argument("--user", required=True)
    p = sub.add_parser("password", help="passwords for signing in on the pages")
    password_sub = p.add_subparsers(dest="password_command", required=True)
    p = password_sub.add_parser("set", help="set a user's password (read from standard input)")
    p.add_argument("--user", required=True)
    p = sub.add_parser("settings", help="the company settings the customs messages need")
    settings_sub = p.add_subparsers(dest="settings_command", required=True)
    settings_sub.add_parser("show", help="every setting, its value and where it comes from")
    p = settings_sub.add_parser("set", help="set settings: KEY=VALUE ... (all checked first)")
    p.add_argument("pairs", nargs="+", metavar="KEY=VALUE")
    p = sub.add_parser("account-book", help="the bonded account book (电子账册)")
    book_sub = p.add_subparsers(dest="book_command", required=True)
    p = book_sub.add_parser("import", help="replace the book with a CSV or .xlsx file")
    p.add_argument("file")
    p.add_argument("--sheet", help="the workbook's sheet (default: the first)")
    book_sub.add_parser("show", help="list the book's items")
    p = sub.add_parser("db", help="the database as a whole: moving an installation")
    db_sub = p.add_subparsers(dest="db_command", required=True)
    p = db_sub.add_parser("copy", help="copy this SQLite installation (TALLY_DATABASE) into an"
                          " empty PostgreSQL database, then verify it")
    p.add_argument("--to", required=True, metavar="postgresql://...",
                   help="the target database's URL")
    p.add_argument("--batch-size", type=int, default=5000, help="rows per INSERT batch")
    sub.add_parser("customs-sim", help="run the customs simulator", add_help=False)

    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["customs-sim"]:  # the simulator parses its own options
        from customs_sim import cli

        return cli.main(argv[1:]) or 0
    args = parser.parse_args(argv)
    config = tally_config.from_env()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    return COMMANDS[args.command](args, config) or 0


def _open(config):
    db = open_db(config["DATABASE"])
    migrate(db)
    return db


def cmd_migrate(args, config):
    db = open_db(config["DATABASE"])
    applied = migrate(db)
    close_db(db)
    print(
        f"database {redact(config['DATABASE'])}: "
        + (f"applied {', '.join(applied)}" if applied else "up to date")
    )


def cmd_demo(args, config):
    from tally.demo import DEMO_PASSWORD, DEMO_USER, demo_token, load_demo

    db = _open(config)
    manifest = load_demo(db)
    if manifest:
        print(f"loaded demo manifest {manifest['manifest_no']} (id {manifest['id']})")
    print(f"sign in on the pages as {DEMO_USER} with the password {DEMO_PASSWORD}")
    print("demo supervisor token (use as: Authorization: Bearer <token>):")
    print(demo_token(db))
    close_db(db)


def cmd_import_manifest(args, config):
    from tally import manifests
    from tally.errors import TallyError

    db = _open(config)
    with open(args.file, "rb") as f:
        data = f.read()
    try:
        parsed = json.loads(data) if args.file.endswith(".json") else manifests.parse_csv(data)
        manifest = manifests.import_manifest(db, parsed, user_id=None)
    except TallyError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        for error in exc.errors:
            print("  " + ", ".join(f"{k}={v}" for k, v in error.items()), file=sys.stderr)
        return 1
    print(
        f"imported manifest {manifest['manifest_no']} as id {manifest['id']}"
        f" with {len(manifest['lines'])} lines"
    )


def cmd_labels(args, config):
    from labels.pdf import render_pdf
    from labels.render import LabelSize
    from labels.zpl import render_zpl
    from tally import labelling
    from web.api.labels import label_of

    db = _open(config)
    rows = labelling.list_labels(db, args.manifest_id, line_no=args.line_no, box_no=args.box_no,
                                 bounded=False)
    if not rows:
        print("no issued labels match", file=sys.stderr)
        return 1
    labels = [
        label_of(r)
        for r in rows
    ]
    size = LabelSize.parse(args.size)
    if args.format == "pdf":
        data = render_pdf(labels, size=size, sheet=args.sheet, dpi=args.dpi or 300)
    else:
        data = render_zpl(labels, dpi=args.dpi or 203, size=size).encode()
    with open(args.output, "wb") as f:
        f.write(data)
    print(f"wrote {len(labels)} labels to {args.output}")


def cmd_report(args, config):
    from tally.config import expiry_check
    from tally.reconcile import load_reconciliation

    db = _open(config)
    report = load_reconciliation(db, args.manifest_id, expiry=expiry_check(config))
    if args.format == "json":
        print(json.dumps(report, ensure_ascii=False, indent=2))
        return
    if args.format == "csv":
        import csv

        from web.downloads import spreadsheet_row

        writer = csv.writer(sys.stdout)
        writer.writerow(["line_no", "sku", "declared", "counted", "difference", "status"])
        for line in report["lines"]:
            # a sku like =HYPERLINK(...) gets a leading ': it stays text in a spreadsheet
            writer.writerow(
                spreadsheet_row(
                    [
                        line["line_no"],
                        line["sku"],
                        line["declared"],
                        line["counted"],
                        line["difference"],
                        line["shown"],
                    ]
                )
            )
        return
    print(f"Manifest {report['manifest']['manifest_no']} ({report['manifest']['status']})")
    print(f"{'line':>4}  {'sku':<16} {'declared':>8} {'counted':>8} {'diff':>6}  status")
    for line in report["lines"]:
        print(
            f"{line['line_no']:>4}  {line['sku']:<16} {line['declared']:>8} {line['counted']:>8}"
            f" {line['difference']:>+6}  {line['shown']}"
            + ("  (unexplained)" if line["unexplained"] else "")
        )
    t = report["totals"]
    balance = "balanced" if report["balanced"] else f"{t['unexplained_lines']} line(s) unexplained"
    print(
        f"total declared {t['declared']}, counted {t['counted']}, difference {t['difference']:+d};"
        f" {balance}"
    )


def cmd_token(args, config):
    from tally.errors import TallyError
    from tally.users import create_user_token, revoke_user_tokens

    db = _open(config)
    try:
        if args.token_command == "revoke":
            revoked = revoke_user_tokens(db, args.user)
            print(f"revoked {revoked} token(s) of {args.user}")
            return 0
        token = create_user_token(db, args.user, args.role)
    except TallyError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    finally:
        close_db(db)
    print(f"token for {args.user} ({args.role}):")
    print(token)


def cmd_password(args, config):
    import getpass

    from tally.errors import TallyError
    from tally.users import set_password

    if sys.stdin.isatty():
        password = getpass.getpass(f"new password for {args.user}: ")
    else:
        password = sys.stdin.readline().rstrip("\n")
    db = _open(config)
    try:
        set_password(db, args.user, password)
    except TallyError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    finally:
        close_db(db)
    print(f"password set for {args.user}")


def cmd_worker(args, config):
    from tally.customs.files import transport_from_config
    from tally.outbox import run_worker

    try:
        client = transport_from_config(config)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    _exit_with_parent(stop)
    # A server may start before its database (a machine booting, a failover under way).
    while True:
        try:
            db = _open(config)
            break
        except Unavailable as exc:
            log.warning("outbox worker: the database cannot be reached (%s); trying again in"
                        " %g s", exc, RETRY_S)
            if stop.wait(RETRY_S):
                return 0
    log.info("outbox worker delivering to %s", client.base_url)
    run_worker(db, client, stop, config=config)
    close_db(db)


def _exit_with_parent(stop: threading.Event) -> None:
    """Stop when the process that started us is gone (e.g. `tally serve` killed with -9)."""
    parent = os.getppid()

    def watch():
        while not stop.wait(1.0):
            if os.getppid() != parent:
                stop.set()

    threading.Thread(target=watch, daemon=True).start()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cmd_serve(args, config):
    from tally.customs.files import transport_from_config
    from web import create_app
    from web.server import serve

    try:  # a setting the app refuses stops the start here, said once, not in every worker
        create_app()
    except ValueError as exc:
        print(f"tally serve: {exc}", file=sys.stderr)
        return 2
    try:
        close_db(_open(config))
    except Unavailable as exc:  # a service manager starts it again (docs/deploy.md)
        print(f"tally serve: the database {redact(config['DATABASE'])} cannot be reached: {exc}",
              file=sys.stderr)
        return 1
    env = dict(os.environ)
    children = []
    stopping = threading.Event()
    try:
        if not config["CUSTOMS_URL"]:
            port = _free_port()
            state = os.path.join(os.path.abspath(tally_config.var_dir(config)), "customs-sim.json")
            url = f"http://127.0.0.1:{port}"
            folders = []
            if (config.get("CUSTOMS_TRANSPORT") or "http").lower() == "files":
                from tally.customs.files import folders as file_folders

                paths = file_folders(config)
                folders = ["--outbox", str(paths["outbox"]), "--inbox", str(paths["inbox"]),
                           "--sent", str(paths["sent"]), "--fail", str(paths["fail"])]
            children.append(subprocess.Popen([
                sys.executable, "-m", "web.cli", "customs-sim", "--port", str(port),
                "--state", state, *folders,
            ]))
            # Not before it answers: a write-off right after start would get "unreachable".
            _wait_until_answering(url + "/_control", children[-1])
            env["TALLY_CUSTOMS_URL"] = os.environ["TALLY_CUSTOMS_URL"] = config["CUSTOMS_URL"] = url
            print(f"customs simulator (embedded default) on {url}", flush=True)
        try:  # the outbox worker's settings, refused here rather than by the worker
            transport_from_config(config)
        except ValueError as exc:
            print(f"tally serve: {exc}", file=sys.stderr)
            return 2
        children.append(subprocess.Popen([sys.executable, "-m", "web.cli", "worker"], env=env))
        threading.Thread(target=_keep_worker, args=(children, env, stopping), daemon=True,
                         name="worker-keeper").start()
        print(f"serving on http://{config['HOST']}:{config['PORT']}", flush=True)
        serve(config)
    finally:
        stopping.set()
        for child in children:
            child.terminate()
        deadline = time.monotonic() + 5
        for child in children:
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()


def _keep_worker(children: list, env: dict, stopping: threading.Event) -> None:
    """Start the outbox worker (the last of ``children``) again whenever it stops while the
    server serves: the customs messages waiting in the outbox would otherwise wait for a
    restart of the whole service."""
    while not stopping.is_set():
        code = children[-1].wait()
        if code == 2:  # it refused its settings (said on standard error): again would not help
            log.error("the outbox worker refused its settings; customs messages are not sent")
            return
        if stopping.wait(RETRY_S):
            return
        log.warning("the outbox worker stopped (exit status %s); starting it again", code)
        children[-1] = subprocess.Popen([sys.executable, "-m", "web.cli", "worker"], env=env)


def _wait_until_answering(url: str, child: subprocess.Popen, timeout: float = 30.0) -> None:
    """Return once ``url`` answers HTTP (any status); fail if ``child`` exits or time runs out."""
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise SystemExit(f"the customs simulator exited with {child.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except urllib.error.HTTPError:
            return  # it answered, if only to say there is nothing at /
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"the customs simulator did not answer on {url} within {timeout:g} s")


def _refused(exc) -> int:
    """Print a domain error with each of its problems; the exit status 1."""
    print(f"error: {exc.message}", file=sys.stderr)
    for error in exc.errors:
        print("  " + ", ".join(f"{k}={v}" for k, v in error.items()), file=sys.stderr)
    return 1


def cmd_settings(args, config):
    from tally import company
    from tally.errors import TallyError

    db = _open(config)
    site = tally_config.site_settings(config)
    try:
        if args.settings_command == "set":
            pairs = [pair.partition("=") for pair in args.pairs]
            bad = [key for key, sep, _ in pairs if not sep]
            if bad:
                print(f"error: give KEY=VALUE, not {' '.join(bad)}", file=sys.stderr)
                return 2
            changed = company.record_settings(db, {k: v for k, _, v in pairs}, user_id=None,
                                              site=site)
            print(f"changed: {', '.join(changed) or 'nothing'}")
        described = company.describe(db, site)
    except TallyError as exc:
        return _refused(exc)
    finally:
        close_db(db)
    for s in described["settings"]:
        source = f" ({s['source']})" if s["source"] else ""
        print(f"{s['key']:<20} {s['value'] or '-'}{source}  # {s['chinese']} {s['english']}")
    if described["missing"]:
        print(f"missing: {', '.join(described['missing'])}")
    return 0


def cmd_account_book(args, config):
    from tally import account_book
    from tally.errors import TallyError

    db = _open(config)
    try:
        if args.book_command == "import":
            with open(args.file, "rb") as f:
                data = f.read()
            items = (account_book.parse_xlsx(data, args.sheet)
                     if args.file.lower().endswith(".xlsx") else account_book.parse_csv(data))
            result = account_book.import_book(db, items, user_id=None)
            print(f"imported {result['items']} items (replacing {result['replaced']})")
        else:
            for item in account_book.list_items(db):
                print(f"{item['putrec_seqno']:>6} {item['sku']} {item['hs_code']} "
                      f"{item['dcl_unit']} -> {item['lawf_qty_per_unit']} {item['lawf_unit']}"
                      f"  {item['name']}")
    except TallyError as exc:
        return _refused(exc)
    finally:
        close_db(db)
    return 0


def cmd_db(args, config):
    from tally import copy, pg
    from tally.db import DatabaseError

    source_path = config["DATABASE"]
    if pg.is_url(source_path):
        print("error: TALLY_DATABASE must name the SQLite file to copy, not a server",
              file=sys.stderr)
        return 2
    if not pg.is_url(args.to):
        print(f"error: --to must be a postgresql:// URL, not {args.to}", file=sys.stderr)
        return 2
    if not os.path.exists(source_path):
        print(f"error: no database at {source_path} (TALLY_DATABASE)", file=sys.stderr)
        return 1
    target_name = pg.redact(args.to)
    source = target = None
    try:
        copy.check_reachable(args.to)
        source, target = _open(config), open_db(args.to)
        print(f"copying {source_path} to {target_name}", flush=True)
        report = copy.copy_database(
            source, target, batch_size=args.batch_size,
            progress=lambda table, rows: print(
                f"  {table}: {rows}" + (" (rebuilt from the ledger, not copied)"
                                        if table in copy.DERIVED else ""), flush=True))
    except copy.CopyError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        for detail in exc.details:
            print(f"  {detail}", file=sys.stderr)
        return 1
    except DatabaseError as exc:
        print(f"error: {str(exc).strip()}; nothing was copied", file=sys.stderr)
        return 1
    finally:
        for db in (source, target):
            if db is not None:
                close_db(db)
        pg.close_pools(args.to)
    print(f"verified: {report.tables} tables hold the same rows on both sides; the"
          f" reconciliations of {report.consignments} consignments are equal")
    print(f"copied {sum(report.copied.values())} rows: set TALLY_DATABASE to the target to"
          " serve from it")
    return 0


COMMANDS = {
    "db": cmd_db,
    "serve": cmd_serve,
    "settings": cmd_settings,
    "account-book": cmd_account_book,
    "migrate": cmd_migrate,
    "demo": cmd_demo,
    "worker": cmd_worker,
    "import-manifest": cmd_import_manifest,
    "labels": cmd_labels,
    "report": cmd_report,
    "token": cmd_token,
    "password": cmd_password,
}

if __name__ == "__main__":
    sys.exit(main())
