"""The demo consignment `make run` loads into an empty database, so a new user sees the flow."""

from sqlite_utils import Database

from tally import account_book, company, manifests
from tally.users import create_user_token, set_password

DEMO_MANIFEST = """\
manifest_no,line_no,bill_no,sku,name,gtin,hs_code,origin_country,declared_qty,unit,unit_value,currency,gross_weight_kg,net_weight_kg
DEMO-MF-0001,1,DEMO-BL-7788,SKU-MILK-900,婴儿配方奶粉 900g (Infant formula),9300633603168,1901101000,AU,12,122,28.50,USD,14.4,10.8
DEMO-MF-0001,2,DEMO-BL-7788,SKU-DIAPER-L,纸尿裤 L码 (Diapers size L),4902011713725,9619001100,JP,8,011,15.20,USD,12.0,11.2
DEMO-MF-0001,3,DEMO-BL-7788,SKU-SERUM-30,精华液 30ml (Face serum),3605971237157,3304990099,FR,6,142,42.00,USD,1.2,0.6
DEMO-MF-0001,4,DEMO-BL-7788,SKU-VITC-120,维生素C片 120粒 (Vitamin C tablets),0033984006706,2106909090,US,10,142,9.80,USD,3.0,2.4
"""


# The demo company (made-up names; credit codes with a right GB 32100-2015 check character) and
# the account book items of the demo manifest's SKUs.
DEMO_SETTINGS = {
    "operating_sccd": "91310115MA1TALLY0K",
    "operating_name": "示例跨境电商有限公司",
    "receiving_sccd": "91310115MA1BNDWH1A",
    "receiving_name": "示例保税仓储有限公司",
    "declaring_sccd": "91310115MA1DCLAR2R",
    "declaring_name": "示例报关有限公司",
    "input_code": "3105960001",
    "input_sccd": "91310115MA1NPUT03W",
    "input_name": "示例报关有限公司",
    "ic_card_no": "JJ3105000001",
    "oper_cus_reg_code": "3105960001",
    "sys_id": "Z8",
    "dxp_id": "DXPENT0000000001",
    "departure_country": "601",
    "applicant": "王芳 021-60000000",
}
DEMO_BOOK = """\
sku,putrec_seqno,hs_code,name,dcl_unit,lawf_unit,lawf_qty_per_unit,secd_lawf_unit,secd_lawf_qty_per_unit
SKU-MILK-900,101,1901101000,婴儿配方奶粉,122,035,0.9,,
SKU-DIAPER-L,102,9619001100,婴儿纸尿裤,011,035,1.4,011,1
SKU-SERUM-30,103,3304990099,护肤精华液,142,035,0.03,,
SKU-VITC-120,104,2106909090,维生素C片,142,035,0.12,,
"""


def load_demo(db: Database) -> dict | None:
    """Import the demo manifest when the database has none, with the demo company settings and
    account book (those only where none are set); return it, or None when not empty."""
    if list(db.query("SELECT 1 FROM manifests LIMIT 1")):
        return None
    if not list(db.query("SELECT 1 FROM settings LIMIT 1")):
        company.record_settings(db, DEMO_SETTINGS, user_id=None)
    if not list(db.query("SELECT 1 FROM account_book LIMIT 1")):
        account_book.import_book(db, account_book.parse_csv(DEMO_BOOK.encode()), user_id=None)
    return manifests.import_manifest(db, manifests.parse_csv(DEMO_MANIFEST.encode()), user_id=None)


DEMO_USER, DEMO_PASSWORD = "demo", "demo-tally"


def demo_token(db: Database) -> str:
    """A new token for the demo supervisor (tokens are stored hashed, so a new one each time);
    the demo user can also sign in on the pages with DEMO_PASSWORD."""
    token = create_user_token(db, DEMO_USER, "supervisor")
    set_password(db, DEMO_USER, DEMO_PASSWORD)
    return token
