import pytest

from tally.db import close_db, migrate, open_db
from tally.users import create_user_token

MANIFEST_CSV = (
    "manifest_no,line_no,bill_no,sku,name,gtin,hs_code,origin_country,declared_qty,unit,"
    "unit_value,currency,gross_weight_kg,net_weight_kg\n"
    "MF-TEST-1,1,BL-1,SKU-MILK,婴儿奶粉 900g,9300633603168,1901101000,AU,3,122,28.50,USD,3.6,2.7\n"
    "MF-TEST-1,2,BL-1,SKU-DIAPER,纸尿裤 L,4902011713725,9619001100,JP,2,011,15.20,USD,3.0,2.8\n"
    "MF-TEST-1,3,BL-1,SKU-SERUM,Face serum 30ml,,3304990099,FR,1,142,42.00,USD,0.2,0.1\n"
)


@pytest.fixture
def db_path(tmp_path):
    return str(tmp_path / "tally.db")


@pytest.fixture
def db(db_path):
    database = open_db(db_path)
    migrate(database)
    yield database
    close_db(database)


@pytest.fixture
def app(db_path, db):
    from web import create_app
    from web.db import close_all

    app = create_app({"TESTING": True, "DATABASE": db_path, "CUSTOMS_URL": None})
    yield app
    close_all()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def tokens(db):
    return {
        role: create_user_token(db, f"{role}-user", role)
        for role in ("operator", "supervisor", "admin")
    }


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


@pytest.fixture
def manifest(as_):
    response = as_("supervisor").post(
        "/api/manifests", data=MANIFEST_CSV.encode(), content_type="text/csv"
    )
    assert response.status_code == 201, response.json
    return response.json
