"""The bonded account book (电子账册): imported whole from CSV or .xlsx, every bad row reported
and nothing stored, re-import replacing it; looked up by the inventory list; a manifest line
whose SKU it lacks keeps the tally from being confirmed."""

import io
import json

import pytest
import xlsxwriter

from tally import account_book, company, labelling, manifests, scans, workflow
from tally.conditions import skus_not_in_book
from tally.config import DEFAULTS, site_settings
from tally.confirmation import confirm_tally
from tally.declaration import latest_list
from tally.demo import DEMO_BOOK, load_demo
from tally.errors import ConflictError, ValidationError
from tests.conftest import MANIFEST_CSV, clear_for_tally

HEADER = ("sku,putrec_seqno,hs_code,name,dcl_unit,lawf_unit,lawf_qty_per_unit,secd_lawf_unit,"
          "secd_lawf_qty_per_unit\n")
BOOK = (HEADER
        + "SKU-MILK,101,1901101000,婴儿配方奶粉,122,035,0.9,,\n"
        + "SKU-DIAPER,102,9619001100,婴儿纸尿裤,011,035,1.4,011,1\n"
        + "SKU-SERUM,103,3304990099,护肤精华液,142,035,0.03,,\n")
CHINESE_HEADER = "料号,备案序号,商品编码,商品名称,申报计量单位,法定计量单位,法定数量\n"


def workbook(rows) -> bytes:
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    sheet = book.add_worksheet("账册")
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            sheet.write(r, c, value)
    book.close()
    return out.getvalue()


def test_csv_import(db):
    result = account_book.import_book(db, account_book.parse_csv(BOOK.encode()), user_id=None)
    assert result["items"] == 3 and result["replaced"] == 0
    diapers = account_book.items_for(db, ["SKU-DIAPER", "SKU-NONE"])
    assert list(diapers) == ["SKU-DIAPER"]
    assert diapers["SKU-DIAPER"]["putrec_seqno"] == 102
    assert diapers["SKU-DIAPER"]["secd_lawf_unit"] == "011"
    event = db.execute("SELECT details FROM events WHERE name = 'account-book-imported'"
                       ).fetchone()[0]
    assert json.loads(event) == {"items": 3, "replaced": 0}


def test_chinese_header_and_unit_names_gb18030(db):
    text = CHINESE_HEADER + "SKU-MILK,7,1901101000,婴儿配方奶粉,罐,千克,0.9\n"
    items = account_book.parse_csv(text.encode("gb18030"))
    account_book.import_book(db, items, user_id=None)
    [item] = account_book.list_items(db)
    assert (item["putrec_seqno"], item["dcl_unit"], item["lawf_unit"]) == (7, "122", "035")


def test_xlsx_import_puts_back_the_zeros_excel_drops(db):
    data = workbook([
        ["料号", "备案序号", "商品编码", "商品名称", "申报计量单位", "法定计量单位", "法定数量"],
        ["SKU-MILK", 101, 1901101000, "婴儿配方奶粉", 122, 35, 0.9],
        ["SKU-DIAPER", 102, 9619001100, "婴儿纸尿裤", 11, 35, 1.4],
    ])
    account_book.import_book(db, account_book.parse_xlsx(data), user_id=None)
    items = {i["sku"]: i for i in account_book.list_items(db)}
    assert items["SKU-DIAPER"]["dcl_unit"] == "011" and items["SKU-MILK"]["lawf_unit"] == "035"
    assert items["SKU-MILK"]["lawf_qty_per_unit"] == "0.9"


def test_every_bad_row_is_reported_and_nothing_imported(db):
    account_book.import_book(db, account_book.parse_csv(BOOK.encode()), user_id=None)
    bad = (HEADER
           + "SKU-A,1,1901101000,A,122,035,0.9,,\n"
           + "SKU-B,x,19011010,B,PCS,035,0,,\n"        # seqno, HS code, unit, quantity
           + "SKU-A,2,1901101000,A again,122,035,1,,\n"  # the SKU twice
           + "SKU-C,1,1901101000,C,122,035,1,,\n"        # the record number twice
           + "SKU-D,4,1901101000,D,122,035,1,,2\n"       # a second quantity without its unit
           + ",5,1901101000,E,122,035,1,,\n")            # no SKU
    with pytest.raises(ValidationError) as caught:
        account_book.import_book(db, account_book.parse_csv(bad.encode()), user_id=None)
    found = {(e["row"], e["field"]) for e in caught.value.errors}
    assert found == {(3, "putrec_seqno"), (3, "hs_code"), (3, "dcl_unit"),
                     (3, "lawf_qty_per_unit"), (4, "sku"), (5, "putrec_seqno"),
                     (6, "secd_lawf_unit"), (7, "sku")}
    assert caught.value.message.code == "book_errors"
    assert len(account_book.list_items(db)) == 3  # the book before, untouched


@pytest.mark.parametrize("text, code", [
    ("", "book_empty"),
    (HEADER, "book_empty"),
    ("sku,name\nSKU-A,A\n", "book_header_wrong"),
    (HEADER.replace("name", "colour"), "book_header_wrong"),
    (HEADER + "SKU-A,1\n", "book_errors"),
])
def test_malformed_files(text, code):
    with pytest.raises(ValidationError) as caught:
        account_book.parse_csv(text.encode())
    assert caught.value.message.code == code


def test_reimport_replaces_the_book(db):
    account_book.import_book(db, account_book.parse_csv(BOOK.encode()), user_id=None)
    result = account_book.import_book(
        db, account_book.parse_csv((HEADER + "SKU-TEA,9,0902101000,绿茶,035,035,1,,\n").encode()),
        user_id=None)
    assert result == {**result, "items": 1, "replaced": 3}
    assert [i["sku"] for i in account_book.list_items(db)] == ["SKU-TEA"]


def test_the_demo_seeds_settings_and_a_book_covering_its_manifest(db):
    manifest = load_demo(db)
    assert len(account_book.list_items(db)) == len(account_book.parse_csv(DEMO_BOOK.encode()))
    assert skus_not_in_book(db, manifest["id"]) == []
    assert company.missing(company.load(db, site_settings(DEFAULTS))) == []


def count_everything(db, mid):
    for line in manifests.list_lines(db, mid):
        for label in labelling.issue_labels(db, mid, line_no=line["line_no"],
                                            count=line["declared_qty"], user_id=None):
            scans.record_scans(db, mid, [scans.Scan(label["code"], (label["code"],))],
                               user_id=None)


def test_confirm_waits_for_every_sku_in_the_book(db, customs_client):
    mid = manifests.import_manifest(db, manifests.parse_csv(MANIFEST_CSV.encode()),
                                    user_id=None)["id"]
    clear_for_tally(db, mid, customs_client)
    count_everything(db, mid)
    # The book loses the serum: confirming is refused, naming the line, and nothing written.
    account_book.import_book(db, account_book.parse_csv(BOOK.replace(
        "SKU-SERUM,103,3304990099,护肤精华液,142,035,0.03,,\n", "").encode()), user_id=None)
    [action] = workflow.next_actions(db, mid)
    assert [c["message"].code for c in action["unmet"]] == ["sku_not_in_book"]
    assert action["unmet"][0]["line_no"] == 3 and action["unmet"][0]["sku"] == "SKU-SERUM"
    with pytest.raises(ConflictError) as caught:
        confirm_tally(db, mid, user_id=None, settings=site_settings(DEFAULTS))
    assert "SKU-SERUM is not in the account book" in caught.value.errors[0]["message"]
    assert workflow.current_status(db, mid) == workflow.Status.WRITTEN_OFF
    # With the book whole again the list is built from it.
    account_book.import_book(db, account_book.parse_csv(BOOK.encode()), user_id=None)
    confirm_tally(db, mid, user_id=None, settings=site_settings(DEFAULTS))
    lines = latest_list(db, mid)["payload"]["lines"]
    assert [line["putrecSeqno"] for line in lines] == [101, 102, 103]
    assert [line["lawfQty"] for line in lines] == ["2.70000", "2.80000", "0.03000"]
    assert lines[1]["secdLawfQty"] == "2.00000"
