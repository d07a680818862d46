"""Change declarations, release orders and their XML, against golden files
(regenerate with UPDATE_GOLDEN=1)."""

import copy
import json
import os
import xml.etree.ElementTree as ET
from decimal import Decimal

import pytest

from tally.config import DEFAULTS, site_settings
from tally.customs.message_xml import parse_xml, render_xml
from tally.customs.messages import build_inv101_change, build_sas121
from tally.demo import DEMO_SETTINGS
from tests.tally.goldens import GOLDEN, check_golden

SETTINGS = {**site_settings(DEFAULTS), **DEMO_SETTINGS}
BOND_A = "QD423026I000000001"
BOND_B = "QD423026I000000002"
VEHICLE = {
    "vehicleNo": "沪A12345",
    "vehicleIcNo": "IC0001",
    "vehicleWt": "8000",
    "vehicleFrameWt": "1500.5",
    "containerNo": "TGHU1234567",
    "containerWt": "2200.125",
}
ENVELOPE = {"send_time": "2026-03-01T12:00:00"}  # the sender is the payload's (dxp_id)


def check_golden_text(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


def inv101() -> dict:
    """The INV101 golden payload of tests/tally/test_messages.py, as customs got it."""
    payload = json.loads((GOLDEN / "inv101.json").read_text(encoding="utf-8"))
    payload["head"]["bondInvtNo"] = BOND_A
    return payload


def goods(bond_no=BOND_A, gds_seqno=1, qty=5, *, gross="6", net="4.5") -> dict:
    """One release order line, shaped like the rows release_orders builds."""
    return {"manifest_id": 7, "line_no": gds_seqno, "gds_seqno": gds_seqno, "bondInvtNo": bond_no,
            "sku": f"SKU-{gds_seqno}", "hs_code": "1901101000", "name": "婴儿奶粉 900g",
            "unit": "122", "qty": qty, "gross_wt": gross, "net_wt": net}


def sas121(**overrides) -> dict:
    arguments = {
        "etps_preent_no": "RO42300000000001",
        "lists": [{"manifest_id": 7, "bondInvtNo": BOND_A}],
        "lines": [goods(gds_seqno=1, qty=5), goods(gds_seqno=2, qty=3, gross="7.5", net="6.25")],
        "bind_typecd": "3",
        "passport_typecd": "2",
        "settings": SETTINGS,
        "vehicle": VEHICLE,
        "declared_on": "20260301",
    }
    return build_sas121(**(arguments | overrides))


# -- change declaration ----------------------------------------------------------------------

def test_inv101_change_golden():
    previous = inv101()
    before = copy.deepcopy(previous)
    changes = [{"gdsSeqno": 2, "gdecd": "9619001900", "dclUprcAmt": "15.80"},
               {"gdsSeqno": 1, "natcd": "NZ", "grossWt": "14.5"}]
    payload = build_inv101_change(previous, changes)

    check_golden("inv101_change.json", payload)
    assert previous == before  # the previous version is not touched
    assert payload["dclTypecd"] == "2" and payload["DelcareFlag"] == "1"
    assert payload["head"]["bondInvtNo"] == BOND_A
    assert [line["modfMarkcd"] for line in payload["lines"]] == ["1", "1"]
    assert [line["dclQty"] for line in payload["lines"]] == [12, 7]
    assert payload["head"]["chgTmsCnt"] == "1"  # the first change
    assert payload["lines"][1]["dclTotalAmt"] == "110.60"  # 15.80 × 7
    assert payload["lines"][0]["grossWt"] == "14.50000"
    assert payload["lines"][0]["natcd"] == "609"  # NZ, as the customs' country code
    assert payload["tallyDiscrepancies"] == previous["tallyDiscrepancies"]


def test_change_marks_are_relative_to_the_changed_version():
    previous = build_inv101_change(inv101(), [{"gdsSeqno": 2, "gdsNm": "纸尿裤 L 54片"}])
    again = build_inv101_change(previous, [{"gdsSeqno": 1, "dclCurrcd": "AUD"}])
    assert [line["modfMarkcd"] for line in again["lines"]] == ["1", "0"]
    assert again["head"]["chgTmsCnt"] == "2"
    assert again["lines"][0]["dclCurrcd"] == "601"  # AUD, as the customs' currency code
    assert again["lines"][1]["gdsNm"] == "纸尿裤 L 54片"


def test_change_without_bond_invt_no_adds_none():
    previous = inv101()
    del previous["head"]["bondInvtNo"]
    payload = build_inv101_change(previous, [{"gdsSeqno": 1, "natcd": "NZ"}])
    assert "bondInvtNo" not in payload["head"]


@pytest.mark.parametrize(
    "changes, message",
    [
        ([], "at least one change"),
        ([{"gdsSeqno": 9, "gdsNm": "x"}],
         "unknown gdsSeqno 9: the inventory list has lines 1, 2"),
        ([{"gdsNm": "x"}], "each change needs a gdsSeqno"),
        ([{"gdsSeqno": 1, "dclQty": 11}], "dclQty cannot be changed"),
        ([{"gdsSeqno": 1, "lawfQty": 11}], "lawfQty cannot be changed"),
        ([{"gdsSeqno": 1, "gdsMtno": "SKU-X"}], "gdsMtno is not an editable line field"),
        ([{"gdsSeqno": 1}], "names no field"),
        ([{"gdsSeqno": 3, "gdsNm": "x"}], "unknown gdsSeqno 3"),  # nothing counted: not listed
        ([{"gdsSeqno": 1, "natcd": "NZ"}, {"gdsSeqno": "1", "gdsNm": "x"}], "changed twice"),
        ([{"gdsSeqno": 1, "gdecd": "1901"}], "10-digit HS code"),
        ([{"gdsSeqno": 1, "dclUprcAmt": "abc"}], "dclUprcAmt must be a number"),
        ([{"gdsSeqno": 1, "netWt": "-1"}], "netWt must be a number >= 0"),
        ([{"gdsSeqno": 1, "natcd": "XX"}], "gdsSeqno 1: natcd: unknown country 'XX'"),
        ([{"gdsSeqno": 2, "dclCurrcd": "INR"}], "gdsSeqno 2: dclCurrcd: unknown currency"),
        ([{"gdsSeqno": 1, "dclUnitcd": "PCS"}], "gdsSeqno 1: dclUnitcd: unknown unit 'PCS'"),
        ([{"gdsSeqno": 1, "lawfUnitcd": "35"}], "gdsSeqno 1: lawfUnitcd: unknown unit '35'"),
    ],
)
def test_change_declaration_rules(changes, message):
    with pytest.raises(ValueError, match=message):
        build_inv101_change(inv101(), changes)


@pytest.mark.parametrize(
    "field, value, expected",
    [
        ("natcd", "JPN", "116"), ("natcd", "116", "116"), ("natcd", "日本", "116"),
        ("dclCurrcd", "cny", "142"), ("dclCurrcd", "142", "142"),
        ("dclUnitcd", "千克", "035"), ("lawfUnitcd", "kg", "035"), ("dclUnitcd", "007", "007"),
    ],
)
def test_changed_codes_are_written_as_the_customs(field, value, expected):
    payload = build_inv101_change(inv101(), [{"gdsSeqno": 2, field: value}])
    assert payload["lines"][1][field] == expected


# -- release order ---------------------------------------------------------------------------

def test_sas121_golden():
    payload = sas121()
    check_golden("sas121.json", payload)
    head = payload["head"]
    assert head["passportNo"] is None and head["rltTbTypecd"] == "1" and head["rltNo"] == BOND_A
    assert (head["masterCuscd"], head["areainEtpsno"], head["dclEtpsno"]) == (
        "4230", "3105960001", "3105960001")
    assert [line["passportSeqNo"] for line in payload["lines"]] == [1, 2]
    assert [line["rltGdsSeqno"] for line in payload["lines"]] == [1, 2]
    assert all("rltNo" not in line for line in payload["lines"])  # no such element
    assert payload["lineLists"] == [BOND_A, BOND_A]  # our bookkeeping, not written
    assert payload["acmp"] == [{"rltTbTypecd": "1", "rltNo": BOND_A}]
    assert (head["areainEtpsSccd"], head["dclEtpsSccd"], head["inputSccd"]) == (
        DEMO_SETTINGS["receiving_sccd"], DEMO_SETTINGS["declaring_sccd"],
        DEMO_SETTINGS["input_sccd"])
    assert head["dclTime"] == "20260301" and head["dclErConc"] == DEMO_SETTINGS["applicant"]
    assert payload["OperCusRegCode"] == DEMO_SETTINGS["oper_cus_reg_code"]


@pytest.mark.parametrize(
    "vehicle, expected",
    [
        # 8000 + 1500.5 + 2200.125 + goods 13.5 (6 + 7.5)
        (VEHICLE, "11714.12500"),
        ({**VEHICLE, "containerNo": None, "containerWt": None}, "9514.00000"),
        ({"vehicleNo": "沪B1", "vehicleWt": 7999.99999, "vehicleFrameWt": "0.00001"},
         "8013.50000"),
        ({"vehicleNo": "沪B1", "vehicleWt": "0.1", "vehicleFrameWt": "0.2",
          "containerWt": "0.3"}, "14.10000"),  # exact decimals, no float drift
    ],
)
def test_total_wt_is_vehicle_frame_container_and_goods(vehicle, expected):
    head = sas121(vehicle=vehicle)["head"]
    assert head["totalGrossWt"] == "13.50000"
    assert head["totalWt"] == expected
    parts = ("vehicleWt", "vehicleFrameWt", "containerWt", "totalGrossWt")
    assert sum(Decimal(head[p] or 0) for p in parts) == Decimal(expected)


def test_a_release_order_is_declared_with_its_truck():
    # SAS121 requires the vehicle when it is declared [G]: no release order without one.
    with pytest.raises(ValueError, match="declared with its truck"):
        sas121(vehicle=None)
    head = sas121()["head"]
    assert head["vehicleNo"] == "沪A12345" and head["vehicleWt"] == "8000.00000"
    assert head["totalGrossWt"] == "13.50000" and head["totalNetWt"] == "10.75000"


@pytest.mark.parametrize("bind", ["1", "2", "3"])
def test_bind_types_accepted(bind):
    assert sas121(bind_typecd=bind)["head"]["bindTypecd"] == bind


@pytest.mark.parametrize("bind", ["0", "4", "", None, 1, "12", "one"])
def test_other_bind_types_are_refused(bind):
    with pytest.raises(ValueError, match="bindTypecd must be one of 1, 2, 3"):
        sas121(bind_typecd=bind)


def test_one_truck_many_tickets_relates_every_list():
    payload = sas121(bind_typecd="1",
                     lists=[{"bondInvtNo": BOND_A}, {"bondInvtNo": BOND_B}],
                     lines=[goods(BOND_A, 1, 12), goods(BOND_B, 1, 8)])
    assert payload["head"]["rltNo"] == f"{BOND_A}\\{BOND_B}"  # a backslash, as customs writes
    assert payload["acmp"] == [{"rltTbTypecd": "1", "rltNo": BOND_A},
                               {"rltTbTypecd": "1", "rltNo": BOND_B}]
    assert payload["lineLists"] == [BOND_A, BOND_B]


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"bind_typecd": "2", "lists": [{"bondInvtNo": BOND_A}, {"bondInvtNo": BOND_B}]},
         "bindTypecd 2 .* relates exactly one inventory list, got 2"),
        ({"bind_typecd": "3", "lists": [{"bondInvtNo": BOND_A}, {"bondInvtNo": BOND_B}]},
         "bindTypecd 3 .* relates exactly one inventory list, got 2"),
        ({"lists": []}, "at least one inventory list"),
        ({"lists": [{"bondInvtNo": None}]}, "at least one inventory list"),
        ({"bind_typecd": "1", "lists": [{"bondInvtNo": BOND_A}, {"bondInvtNo": BOND_A}]},
         "appears twice"),
        ({"lines": []}, "at least one goods line"),
        ({"lines": [goods(BOND_B)]}, "not one of the related lists"),
        ({"lines": [goods(qty=0)]}, "qty must be a whole number > 0"),
        ({"lines": [goods(qty=1.5)]}, "qty must be a whole number > 0"),
        ({"bind_typecd": "1", "lists": [{"bondInvtNo": BOND_A}, {"bondInvtNo": BOND_B}]},
         f"inventory list {BOND_B} has no goods"),
        ({"passport_typecd": "9"}, "passportTypecd must be one of"),
        ({"io_typecd": "X"}, "ioTypecd must be one of I, E"),
        ({"etps_preent_no": ""}, "etpsPreentNo"),
        ({"vehicle": {"vehicleWt": "1", "vehicleFrameWt": "1"}}, "plate"),
        ({"vehicle": {**VEHICLE, "vehicleNo": ""}}, "plate"),
        ({"lines": [goods(gross=None)]}, "line 1: gross_wt must be a number"),
        ({"lines": [goods(net="0")]}, "line 1: net_wt must be > 0"),
        ({"vehicle": {**VEHICLE, "vehicleWt": "0"}}, "vehicleWt must be > 0"),
        ({"vehicle": {**VEHICLE, "vehicleFrameWt": None}}, "vehicleFrameWt must be a number"),
        ({"vehicle": {**VEHICLE, "mileage": "12"}}, "unknown vehicle field mileage"),
        ({"lines": [{**goods(), "unit": "PCS"}]}, "line 1: unknown unit 'PCS'"),
    ],
)
def test_release_order_rules(overrides, message):
    with pytest.raises(ValueError, match=message):
        sas121(**overrides)


@pytest.mark.parametrize("unit, expected", [("122", "122"), ("罐", "122"), ("KG", "035"),
                                            (None, None)])
def test_release_order_units_are_the_customs(unit, expected):
    line = sas121(lines=[{**goods(), "unit": unit}])["lines"][0]
    assert line["dclUnitcd"] == expected


# -- XML ---------------------------------------------------------------------------------------

MESSAGES = {"INV101": inv101, "SAS121": sas121}


def as_text(message_type: str, payload: dict) -> dict:
    """What the XML carries: every field as text, None left out (so is our tally record)."""
    def fields(d: dict) -> dict:
        return {k: str(v) for k, v in d.items() if v is not None}

    text = {k: str(payload[k]) for k in ("DelcareFlag", "dclTypecd", "SysId", "OperCusRegCode")
            if k in payload}
    if "envelope" in payload:
        text["envelope"] = payload["envelope"]
    text["head"] = fields(payload["head"])
    for part in ("lines", "acmp"):
        if part in payload:
            text[part] = [fields(item) for item in payload[part]]
    return text


@pytest.mark.parametrize("message_type", MESSAGES)
def test_xml_golden(message_type):
    text = render_xml(message_type, MESSAGES[message_type](),
                      message_id=f"MSG-{message_type}-0001", **ENVELOPE)
    check_golden_text(f"{message_type.lower()}.xml", text)


@pytest.mark.parametrize("message_type", MESSAGES)
def test_xml_roundtrip_keeps_every_field_as_text(message_type):
    payload = MESSAGES[message_type]()
    parsed_type, parsed = parse_xml(render_xml(message_type, payload, message_id="M1",
                                               **ENVELOPE))
    assert parsed_type == message_type
    assert parsed == as_text(message_type, payload)


@pytest.mark.parametrize(
    "message_type, body",
    [
        ("INV101", "Signature/Object/Package/DataInfo/BussinessData/InvtMessage"),
        ("SAS121", "Signature/Object/Package/DataInfo/BussinessData/PassPortMessage"),
    ],
)
def test_xml_is_well_formed_utf8_with_the_real_envelope(message_type, body):
    text = render_xml(message_type, MESSAGES[message_type](), message_id="M1", **ENVELOPE)
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n')
    root = ET.fromstring(text.encode("utf-8"))
    package = root.find("Object/Package")
    envelope = package.find("EnvelopInfo")
    tags = ["version", "business_id", "message_id", "file_name", "message_type", "sender_id",
            "receiver_id", "send_time"]
    tags.append("Ic_Card")
    assert envelope.findtext("sender_id") == DEMO_SETTINGS["dxp_id"]
    assert [e.tag for e in envelope] == tags
    assert envelope.findtext("message_type") == message_type
    assert envelope.findtext("receiver_id") == "DXPEDCSAS0000001"
    assert envelope.findtext("file_name") == "M1.xml"
    root_tag, path = body.split("/", 1)
    assert root.tag == root_tag and root.find(path) is not None


def test_inv101_xml_names():
    root = ET.fromstring(render_xml("INV101", inv101(), message_id="M1", **ENVELOPE))
    data = root.find("Object/Package/DataInfo/BussinessData")
    assert [e.tag for e in data] == ["DelcareFlag", "InvtMessage"]
    head = data.find("InvtMessage/InvtHeadType")
    assert head.findtext("BondInvtNo") == BOND_A and head.findtext("DclTypecd") == "1"
    assert [e.findtext("GdsSeqno") for e in data.findall("InvtMessage/InvtListType")] == [
        "1", "2"]
    assert [e.tag for e in data.find("InvtMessage")][:3] == ["SysId", "OperCusRegCode",
                                                           "InvtHeadType"]
    assert "ManifestNo" not in ET.tostring(root, "unicode")
    assert data.find("InvtMessage/InvtListType/NetWt") is not None
    # None -> the element is left out (line 2 has no net weight)
    assert data.findall("InvtMessage/InvtListType")[1].find("NetWt") is None
    assert "tallyDiscrepancies" not in ET.tostring(root, "unicode")


def test_sas121_acmp_uses_the_real_spelling():
    root = ET.fromstring(render_xml("SAS121", sas121(), message_id="M1", **ENVELOPE))
    acmp = root.find(".//PassPortMessage/PassportAcmp")
    assert [e.tag for e in acmp] == ["RtlBillTypecd", "RtlBillNo"]
    assert acmp.findtext("RtlBillNo") == BOND_A


def test_xml_is_deterministic_whatever_the_key_order():
    payload = sas121()
    shuffled = {k: payload[k] for k in reversed(payload)}
    shuffled["head"] = dict(reversed(payload["head"].items()))
    shuffled["lines"] = [dict(reversed(line.items())) for line in payload["lines"]]
    first = render_xml("SAS121", payload, message_id="M1", **ENVELOPE)
    assert render_xml("SAS121", shuffled, message_id="M1", **ENVELOPE) == first


def test_xml_escapes_text():
    payload = inv101()
    payload["lines"][0]["gdsNm"] = 'Milk <900g> & "cream" 奶粉'
    text = render_xml("INV101", payload, message_id="M1", **ENVELOPE)
    assert parse_xml(text)[1]["lines"][0]["gdsNm"] == 'Milk <900g> & "cream" 奶粉'
    assert parse_xml(text.encode("utf-8")) == parse_xml(text)


@pytest.mark.parametrize(
    "text, message",
    [
        ("<Signature><Object>", "not well-formed XML"),
        ("<Package><EnvelopInfo><message_type>SAS999</message_type></EnvelopInfo></Package>",
         "message type must be one of INV101, SAS121"),
        ("<Package><EnvelopInfo><message_type>SAS121</message_type></EnvelopInfo></Package>",
         "no BussinessData/PassPortMessage/PassportHead"),
    ],
)
def test_parse_xml_refuses(text, message):
    with pytest.raises(ValueError, match=message):
        parse_xml(text)


def test_render_xml_refuses_an_unknown_type():
    with pytest.raises(ValueError, match="message type must be one of"):
        render_xml("INV999", inv101(), message_id="M1", **ENVELOPE)
