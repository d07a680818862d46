"""The `tally` command line, run as a real process."""

import csv
import io
import os
import subprocess
import sys

import pypdfium2

from bench.servers import ROOT
from tally import labelling
from tally.customs.client import CustomsClient
from tests.conftest import MANIFEST_CSV, clear_for_tally


def run(*args, db_path, stdin=None):
    return subprocess.run([sys.executable, "-m", "web.cli", *args], cwd=ROOT, input=stdin,
                          capture_output=True, text=True,
                          env={**os.environ, "TALLY_DATABASE": db_path})


def test_import_labels_report_token(tmp_path, db, db_path, customs):
    good = tmp_path / "manifest.csv"
    good.write_text(MANIFEST_CSV, encoding="utf-8")
    bad = tmp_path / "bad.csv"
    bad.write_text("manifest_no,line_no,sku,name,declared_qty\nM,1,S,N,-1\n", encoding="utf-8")

    result = run("import-manifest", str(good), db_path=db_path)
    assert result.returncode == 0 and "with 3 lines" in result.stdout
    result = run("import-manifest", str(bad), db_path=db_path)
    assert result.returncode == 1 and "declared_qty" in result.stderr
    assert run("import-manifest", str(good), db_path=db_path).returncode == 1  # exists: 409

    clear_for_tally(db, 1, CustomsClient(customs.url))
    codes = [x["code"] for x in labelling.issue_labels(db, 1, line_no=1, count=2, user_id=None)]
    pdf, zpl = tmp_path / "labels.pdf", tmp_path / "labels.zpl"
    assert run("labels", "1", "--format", "pdf", "-o", str(pdf), db_path=db_path).returncode == 0
    document = pypdfium2.PdfDocument(pdf.read_bytes())
    assert len(document) == 2
    document.close()
    assert run("labels", "1", "--format", "zpl", "-o", str(zpl), "--dpi", "300",
               db_path=db_path).returncode == 0
    assert all(code in zpl.read_text() for code in codes)

    text = run("report", "1", db_path=db_path).stdout
    assert "MF-TEST-1" in text and "3 line(s) unexplained" in text
    rows = list(csv.reader(io.StringIO(run("report", "1", "--format", "csv",
                                           db_path=db_path).stdout)))
    assert rows[0][:4] == ["line_no", "sku", "declared", "counted"] and rows[1][3] == "0"

    token = run("token", "create", "--user", "li.na", "--role", "operator",
                db_path=db_path).stdout.strip().splitlines()[-1]
    assert token.startswith("tly_")
    assert run("password", "set", "--user", "li.na", stdin="short\n",
               db_path=db_path).returncode == 1
    assert run("password", "set", "--user", "li.na", stdin="long enough pw\n",
               db_path=db_path).returncode == 0


def test_settings_and_account_book(tmp_path, db_path):
    from tally.demo import DEMO_BOOK, DEMO_SETTINGS

    shown = run("settings", "show", db_path=db_path)
    assert shown.returncode == 0
    assert "putrec_no            T4230W000293 (environment)" in shown.stdout
    assert "missing: operating_sccd" in shown.stdout
    pairs = [f"{k}={v}" for k, v in DEMO_SETTINGS.items()]
    result = run("settings", "set", *pairs, db_path=db_path)
    assert result.returncode == 0 and "missing" not in result.stdout
    assert f"operating_sccd       {DEMO_SETTINGS['operating_sccd']} (stored)" in result.stdout
    refused = run("settings", "set", "sys_id=Z9", "operating_sccd=913302017532977857",
                  db_path=db_path)
    assert refused.returncode == 1
    assert "field=sys_id" in refused.stderr and "should be 6, not 7" in refused.stderr
    assert run("settings", "set", "sys_id", db_path=db_path).returncode == 2

    book = tmp_path / "book.csv"
    book.write_text(DEMO_BOOK, encoding="utf-8")
    result = run("account-book", "import", str(book), db_path=db_path)
    assert result.returncode == 0 and "imported 4 items (replacing 0)" in result.stdout
    listed = run("account-book", "show", db_path=db_path).stdout
    assert "101 SKU-MILK-900 1901101000 122 -> 0.9 035" in listed
    book.write_text(DEMO_BOOK.replace(",101,", ",x,"), encoding="utf-8")
    refused = run("account-book", "import", str(book), db_path=db_path)
    assert refused.returncode == 1 and "row=2" in refused.stderr


def test_token_revoke_ends_every_token_of_a_user(db, db_path):
    from tally.errors import AuthenticationError
    from tally.users import authenticate

    tokens = [run("token", "create", "--user", "lost.handheld", "--role", "operator",
                  db_path=db_path).stdout.strip().splitlines()[-1] for _ in range(2)]
    kept = run("token", "create", "--user", "someone.else", "--role", "operator",
               db_path=db_path).stdout.strip().splitlines()[-1]
    revoked = run("token", "revoke", "--user", "lost.handheld", db_path=db_path)
    assert revoked.returncode == 0 and "revoked 2 token(s) of lost.handheld" in revoked.stdout
    for token in tokens:
        try:
            authenticate(db, token)
        except AuthenticationError:
            continue
        raise AssertionError("a revoked token was accepted")
    assert authenticate(db, kept)["name"] == "someone.else"
    unknown = run("token", "revoke", "--user", "nobody", db_path=db_path)
    assert unknown.returncode == 1 and "no user 'nobody'" in unknown.stderr
