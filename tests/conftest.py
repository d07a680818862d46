import base64
import io
import itertools
import re

import pytest
from PIL import Image, ImageDraw

import customs_sim
from customs_sim.fake import FakeCustomsClient
from tally.db import close_db, migrate, open_db
from tally.users import create_user_token

MANIFEST_CSV = (
    "manifest_no,line_no,bill_no,sku,name,gtin,hs_code,origin_country,declared_qty,unit,"
    "unit_value,currency,gross_weight_kg,net_weight_kg\n"
    "MF-TEST-1,1,BL-1,SKU-MILK,婴儿奶粉 900g,9300633603168,1901101000,AU,3,122,28.50,USD,3.6,2.7\n"
    "MF-TEST-1,2,BL-1,SKU-DIAPER,纸尿裤 L,4902011713725,9619001100,JP,2,011,15.20,USD,3.0,2.8\n"
    "MF-TEST-1,3,BL-1,SKU-SERUM,Face serum 30ml,,3304990099,FR,1,142,42.00,USD,0.2,0.1\n"
)


def signature_data_url() -> str:
    """A signature as a browser signature pad sends it: a transparent PNG with ink strokes."""
    image = Image.new("RGBA", (400, 150), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.line([(20, 100), (80, 30), (140, 110), (200, 40), (260, 100), (380, 60)],
              fill=(10, 10, 60, 255), width=4)
    out = io.BytesIO()
    image.save(out, "PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


def passing_inspection(line_nos, *, signed=True) -> dict:
    """An inspection that passes at once: a plastic pallet, every line checked and passed."""
    ok = {"result": "pass"}
    body = {
        "location": "Bay 3", "ciq_officer": "Zhang Wei", "customs_officer": "Li Na",
        "pallets": [{"pallet_no": "P1", "material": "plastic", "disposition": "pass"}],
        "checks": [{"line_no": n, "nature": ok, "origin": ok, "condition": ok, "quantity": ok,
                    "value": ok} for n in line_nos],
    }
    if signed:
        body["escort"] = {"name": "Wang Fang", "signature": signature_data_url()}
    return body


WRITE_OFF = {"transfer_order_no": "TO-2026-0001", "white_card_no": "WC-88001",
             "vehicle_no": "沪A12345"}


def book_items(lines, existing=()) -> list[dict]:
    """An account book with the ``existing`` items and one for each new SKU of ``lines``
    (manifest lines), numbered on: HS code and unit from the line where it has them."""
    from tally.account_book import COLUMNS

    items = [{k: item[k] for k in COLUMNS} for item in existing]
    known = {item["sku"] for item in items}
    number = max((int(item["putrec_seqno"]) for item in items), default=0)
    for line in lines:
        if line["sku"] in known:
            continue
        known.add(line["sku"])
        number += 1
        hs_code = (line.get("hs_code") or "9999999999").ljust(10, "0")
        items.append({"sku": line["sku"], "putrec_seqno": number, "hs_code": hs_code,
                      "name": line["name"], "dcl_unit": line.get("unit") or "007",
                      "lawf_unit": "035", "lawf_qty_per_unit": "0.5"})
    return items


def seed_customs_data(db, manifest_id: int) -> None:
    """The demo company settings, and the manifest's SKUs added to the account book."""
    from tally import account_book, company, manifests
    from tally.demo import DEMO_SETTINGS

    company.record_settings(db, DEMO_SETTINGS, user_id=None)
    account_book.import_book(db, book_items(manifests.list_lines(db, manifest_id),
                                            account_book.list_items(db)), user_id=None)


def clear_for_tally(db, manifest_id: int, client) -> None:
    """Inspection passed and write-off done: the tally may start (domain level); the company
    settings and the account book the inventory list needs are in place."""
    from tally import inspections, manifests, writeoff

    line_nos = [line["line_no"] for line in manifests.list_lines(db, manifest_id)]
    inspections.record_inspection(db, manifest_id, passing_inspection(line_nos), user_id=None)
    writeoff.write_off(db, manifest_id, WRITE_OFF, client=client, user_id=None)
    seed_customs_data(db, manifest_id)


def confirm_counted(db, manifest_id: int) -> None:
    """Every unit of the test manifest labelled and counted, the tally confirmed: its INV101 is
    in the outbox (domain level)."""
    from tally import labelling, scans
    from tally.config import DEFAULTS, site_settings
    from tally.confirmation import confirm_tally

    for line_no, count in ((1, 3), (2, 2), (3, 1)):
        for label in labelling.issue_labels(db, manifest_id, line_no=line_no, count=count,
                                            user_id=None):
            scans.record_scans(db, manifest_id, [scans.Scan(label["code"], (label["code"],))],
                               user_id=None)
    confirm_tally(db, manifest_id, user_id=None, settings=site_settings(DEFAULTS))


@pytest.fixture
def customs_core():
    """The simulated customs side, without a transport."""
    return customs_sim.Customs()


@pytest.fixture
def customs(customs_core):
    """The same customs behind HTTP, on a free loopback port (for the app and the transport)."""
    with customs_sim.serve(customs=customs_core) as server:
        yield server


@pytest.fixture
def customs_client(customs_core):
    """The customs client's interface, in-process, on the same customs."""
    return FakeCustomsClient(customs_core)


# Every test that touches the database runs on both engines: a SQLite file, and a database of
# its own on the session's PostgreSQL (migrated already: a copy of the template).
ENGINES = ("sqlite", "postgresql")


@pytest.fixture(params=ENGINES)
def engine(request):
    return request.param


@pytest.fixture
def db_path(request, tmp_path, engine):
    """TALLY_DATABASE of the test: a file path, or a PostgreSQL URL."""
    if engine == "postgresql":
        return request.getfixturevalue("pg_url")
    return str(tmp_path / "tally.db")


@pytest.fixture
def db(db_path):
    database = open_db(db_path)
    migrate(database)
    yield database
    close_db(database)


@pytest.fixture
def mid(db, customs_client):
    """The test manifest imported at the domain level, inspected and written off: ready to
    tally."""
    from tally import manifests

    manifest_id = manifests.import_manifest(
        db, manifests.parse_csv(MANIFEST_CSV.encode()), user_id=None)["id"]
    clear_for_tally(db, manifest_id, customs_client)
    return manifest_id


def app_config(db_path: str, **settings) -> dict:
    """A test app's configuration on the database at ``db_path`` (with the session key
    PostgreSQL requires: several servers may share it)."""
    config = {"TESTING": True, "DATABASE": db_path, **settings}
    if db_path.startswith("postgresql://"):
        config.setdefault("SECRET_KEY", "tests-" + "0" * 58)
    return config


@pytest.fixture
def app(db_path, db, customs):
    from web import create_app
    from web.db import close_all

    app = create_app(app_config(db_path, CUSTOMS_URL=customs.url))
    yield app
    close_all()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def tokens(db):
    return {role: create_user_token(db, f"{role}-user", role)
            for role in ("operator", "supervisor", "admin")}


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def as_(client, tokens):
    """``as_("operator").post(...)``: the test client with that role's bearer token."""
    class As:
        def __init__(self, role):
            self.headers = auth(tokens[role])

        def __getattr__(self, method):
            def call(path, **kwargs):
                kwargs["headers"] = {**self.headers, **kwargs.get("headers", {})}
                return getattr(client, method)(path, **kwargs)
            return call
    return As


def clear_over_http(as_, manifest: dict, *, book: bool = True) -> None:
    """Inspection and write-off through the API, so the tally can start; the company settings
    and (unless ``book`` is false) the account book with the manifest's SKUs set through the
    API too."""
    from tally.demo import DEMO_SETTINGS

    line_nos = [line["line_no"] for line in manifest["lines"]]
    inspected = as_("operator").post(f"/api/manifests/{manifest['id']}/inspections",
                                     json=passing_inspection(line_nos))
    assert inspected.status_code == 201, inspected.json
    written = as_("supervisor").post(f"/api/manifests/{manifest['id']}/write-off", json=WRITE_OFF)
    assert written.status_code == 200, written.json
    saved = as_("admin").put("/api/settings", json=DEMO_SETTINGS)
    assert saved.status_code == 200, saved.json
    if not book:
        return
    book = as_("supervisor").get("/api/account-book").json["items"]
    imported = as_("supervisor").post("/api/account-book",
                                      json={"items": book_items(manifest["lines"], book)})
    assert imported.status_code == 201, imported.json


@pytest.fixture
def imported(as_):
    """The test manifest, imported (status arrived)."""
    response = as_("supervisor").post("/api/manifests", data=MANIFEST_CSV.encode(),
                                      content_type="text/csv")
    assert response.status_code == 201, response.json
    return response.json


@pytest.fixture
def manifest(as_, imported):
    """The test manifest, inspected and written off: ready to tally."""
    clear_over_http(as_, imported)
    return imported


# --- PostgreSQL (issue 14) ---------------------------------------------------------------------
# One throwaway cluster per test session (tests/pgcluster.py), started only when a test asks for
# pg_cluster or pg_url; every pg_url test gets a fresh database copied from PG_TEMPLATE.

PG_TEMPLATE = "tally_template"
_pg_numbers = itertools.count(1)


def prepare_template(url: str) -> None:
    """Bring the template database at ``url`` to the state every test's database starts from:
    migrated. Called once per session, before any test's copy is made; its connections are
    closed after it (a copy needs the template free)."""
    from tally import pg

    database = open_db(url)
    try:
        migrate(database)
    finally:
        close_db(database)
        pg.close_pools(url)


@pytest.fixture(scope="session")
def pg_cluster():
    """The session's PostgreSQL cluster (not durable: fsync off), with ``tally_template``."""
    from tests.pgcluster import Cluster

    with Cluster(name="tally-tests") as cluster:
        cluster.create_database(PG_TEMPLATE)
        prepare_template(cluster.url(PG_TEMPLATE))
        yield cluster


@pytest.fixture
def pg_url(pg_cluster, request):
    """The URL of a database of this test's own, a copy of ``tally_template``; dropped after
    the test (connections still open to it are ended)."""
    test = re.sub(r"\W+", "_", request.node.name.lower())
    name = f"tally_test_{next(_pg_numbers)}_{test}"[:63]
    pg_cluster.create_database(name, template=PG_TEMPLATE)
    yield pg_cluster.url(name)
    from tally import pg

    pg.close_pools(pg_cluster.url(name))
    pg_cluster.drop_database(name)


def dump(db) -> list[tuple]:
    """Every row of every table, in order: compared before and after to show that a refused
    request changed nothing (on either engine)."""
    tables = [r[0] for r in db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
        if db.engine == "sqlite" else
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        " ORDER BY table_name")]
    return [(table, *row) for table in tables
            for row in db.execute(f"SELECT * FROM {table} ORDER BY 1")]


def count_rows(db, table: str) -> int:
    """How many rows ``table`` has."""
    return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
