"""The XML Schemas of the declarations we send (tally/customs/schemas): the messages the
builders write are valid, and what the sources say cannot be is refused."""

import xml.etree.ElementTree as ET

import pytest

from tally.customs.message_xml import render_xml, schema_problems
from tests.tally import test_messages_customs as built

SEND = {"message_id": "MSG-1", "send_time": "2026-03-01T12:00:00"}


def xml(message_type: str, payload: dict) -> str:
    return render_xml(message_type, payload, **SEND)


@pytest.mark.parametrize("message_type", ["INV101", "SAS121"])
def test_the_built_messages_match_their_schemas(message_type):
    assert schema_problems(message_type, xml(message_type, built.MESSAGES[message_type]())) == []


@pytest.mark.parametrize("field", ["vehicleNo", "vehicleWt", "vehicleFrameWt", "totalWt",
                                   "totalGrossWt", "totalNetWt"])
def test_a_release_order_is_refused_without_its_vehicle_and_weights(field):
    # [G] sas121_models.go: required when the release order is declared.
    payload = built.sas121()
    del payload["head"][field]
    problems = schema_problems("SAS121", xml("SAS121", payload))
    assert problems and field[0].upper() + field[1:] in " ".join(problems)


def inv101_with(change) -> dict:
    payload = built.inv101()
    change(payload)
    return payload


def _set(path: str, value):
    """A change of the payload at ``head.x``, ``lines.0.x`` or a top-level key."""
    def change(payload):
        *parents, key = path.split(".")
        target = payload
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        if value is _DELETE:
            del target[key]
        else:
            target[key] = value
    return change


_DELETE = object()


@pytest.mark.parametrize(
    "path, value, element",
    [
        ("head.bizopEtpsSccd", "91310115MA1TALLY0", "BizopEtpsSccd"),  # 17 characters
        ("head.dclEtpsSccd", "91310115MA1TALLYOK", "DclEtpsSccd"),     # O is not in GB 32100
        ("head.invtDclTime", "2026-03-01", "InvtDclTime"),              # not yyyyMMdd
        ("head.inputTime", _DELETE, "InputTime"),                       # required
        ("head.icCardNo", _DELETE, "IcCardNo"),
        ("head.stshipTrsarvNatcd", "AU", "StshipTrsarvNatcd"),          # 3 digits
        ("head.putrecNo", "3105W000293", "PutrecNo"),
        ("SysId", "Z9", "SysId"),
        ("OperCusRegCode", None, "OperCusRegCode"),
        ("envelope.sender_id", "3105960001", "sender_id"),              # not a DXP channel
        ("lines.0.dclQty", 0, "DclQty"),                                # > 0
        ("lines.0.lawfQty", None, "LawfQty"),
        ("lines.0.putrecSeqno", None, "PutrecSeqno"),
        ("lines.0.natcd", "AU", "Natcd"),
        ("lines.0.modfMarkcd", "4", "ModfMarkcd"),
        ("lines.0.gdecd", "19011010", "Gdecd"),
    ],
)
def test_inv101_schema_refuses(path, value, element):
    problems = schema_problems("INV101", xml("INV101", inv101_with(_set(path, value))))
    assert problems and element in problems[0]


@pytest.mark.parametrize(
    "path, value, element",
    [
        ("head.dclTypecd", "2", "DclTypecd"),  # a release order is filed or voided, not changed
        ("head.areainEtpsSccd", None, "AreainEtpsSccd"),
        ("head.dclTime", "20261301", "DclTime"),
        ("head.rltNo", "QD1,QD2", "RltNo"),    # several lists: a backslash
        ("head.vehicleWt", "0", "VehicleWt"),
        ("head.totalNetWt", "0", "TotalNetWt"),
        ("lines.0.grossWt", None, "GrossWt"),                 # required on every line [G]
        ("lines.0.netWt", "0", "NetWt"),
        ("lines.0.dclQty", -1, "DclQty"),
    ],
)
def test_sas121_schema_refuses(path, value, element):
    payload = built.sas121()
    _set(path, value)(payload)
    if path == "head.dclTypecd":
        payload["dclTypecd"] = value
    problems = schema_problems("SAS121", xml("SAS121", payload))
    assert problems and element in problems[0]


@pytest.mark.parametrize(
    "message_type, before, element",
    [
        ("INV101", "</InvtHeadType>", "<ManifestNo>MF-1</ManifestNo>"),
        ("INV101", "</InvtHeadType>", "<BillNo>BL-1</BillNo>"),
        ("INV101", "</InvtHeadType>", "<TotalDclQty>19</TotalDclQty>"),
        ("INV101", "</InvtHeadType>", "<TotalDclTotalAmt>1.00</TotalDclTotalAmt>"),
        ("INV101", "</InvtListType>", "<ManifestQty>12</ManifestQty>"),
        ("SAS121", "</PassportList>", "<RltNo>QD423026I000000001</RltNo>"),
    ],
)
def test_elements_that_do_not_exist_are_refused_and_never_written(message_type, before,
                                                                  element):
    text = xml(message_type, built.MESSAGES[message_type]())
    name, parent = element[1:element.index(">")], before.strip("</>")
    assert ET.fromstring(text.encode()).find(f".//{parent}/{name}") is None
    problems = schema_problems(message_type, text.replace(before, element + before, 1))
    assert problems and name in problems[0]


def test_what_is_not_xml_is_a_problem_too():
    assert schema_problems("INV101", "<Signature>")[0].startswith("not well-formed XML")
