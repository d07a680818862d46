"""The customs messages as the special-area system's XML: render_xml and parse_xml turn the
payloads of tally/customs/messages.py into that XML and back, and schema_problems checks a
message against its XML Schema (tally/customs/schemas). Element names follow public
integration code; the sources and our choices are listed below.
"""

import functools
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

# The envelope and element names follow public integration code for the special-area system
# (金关二期), read in:
#   - ronannnn/gx-customs-bridge, pkg/customs/sasmodels/{inv101,sas121,sas221,sas223}_models.go
#     and pkg/customs/commonmodels/models.go (Go structs marshalled with encoding/xml);
#   - the PHP package gold\GoldPortSecondClient, GoldMessage/NuclearNote/Client.php (INV101) and
#     GoldMessage/AccountRelease/Client.php (SAS121);
#   - a Go beego app's xmlTemplate (EnvelopInfo with business_id) and a Python template filler
#     that fills Object/Package/DataInfo/BussinessData/InvtMessage/InvtHeadType.
# What they agree on, and we write:
#   Signature (xmlns:xsi) / Object Id="String" / Package / EnvelopInfo (version, business_id,
#   message_id, file_name, message_type, sender_id, receiver_id, send_time, Ic_Card) + DataInfo
#   / BussinessData (sic) / DelcareFlag (sic) + InvtMessage {SysId, OperCusRegCode,
#   InvtHeadType, InvtListType*} or PassPortMessage {OperCusRegCode, PassportHead,
#   PassportList*, PassportAcmp*} (gx-customs-bridge's Inv101Xml / Sas121Xml; Ic_Card after
#   send_time in a public Single Window envelope sample).
#   - sender_id is the enterprise's Single Window channel id (DXPENT...), Ic_Card and IcCardNo
#     the operator's card, SysId Z7/Z8 and OperCusRegCode the card holder's 10-character
#     customs code: company settings (tally/company.py).
#   - Field elements of the declarations are PascalCase (BondInvtNo, EtpsInnerInvtNo, GdsSeqno,
#     PassportTypecd, ...): every source writes them so. We derive them from the payload's
#     camelCase names by upper-casing the first letter, and parse_xml lowers it back.
#   - dclTypecd travels inside the head (DclTypecd in InvtHeadType / PassportHead).
#   - PassportAcmp spells its fields RtlBillTypecd / RtlBillNo (sic) in both sources; our
#     payload's acmp uses rltTbTypecd / rltNo, the spelling of the SAS221 receipt.
#   - SAS221, SAS223 and SAS224 are receipts customs sends, not messages we write
#     (tally/receipts.py reads them).
# Where we could not follow a source, and what we chose:
#   - SignedInfo / SignatureValue / KeyInfo are left out: the operator's card client (电子口岸
#     卡介质) signs the message; we do not fake a signature.
#   - PocketInfo (message split into pockets) is left out: our messages are one pocket.
#   - business_id: the sources read it from configuration; we write our own document number
#     (etpsInnerInvtNo / etpsPreentNo / passportNo). file_name is "<message_id>.xml".
#   - A declaration is written with the fields of its layout only, which are those of its XML
#     Schema (tally/customs/schemas/INV101.xsd, SAS121.xsd); every declaration is validated
#     against it before it is sent. The payload's bookkeeping (manifestLineNos, lineLists,
#     tallyDiscrepancies) is ours and is not written.

ENVELOPE = ("version", "business_id", "message_id", "file_name", "message_type", "sender_id",
            "receiver_id", "send_time")
XML_VERSION = "1.0"
XSI = "http://www.w3.org/2001/XMLSchema-instance"


@dataclass(frozen=True)
class _Layout:
    """Where one message type keeps its head, lines and related documents."""

    message: str            # the body element under BussinessData
    head: str
    head_order: tuple
    business_key: str       # the head field written as business_id
    lines: str | None = None
    line_order: tuple = ()
    acmp: str | None = None
    acmp_order: tuple = ()
    message_fields: tuple = ()  # written first in the message element (SysId, OperCusRegCode)


# Field orders as the sources list them (the XSD order); fields not listed follow, sorted.
LAYOUTS = {
    "INV101": _Layout(
        message="InvtMessage",
        head="InvtHeadType",
        head_order=tuple(
            "seqNo bondInvtNo chgTmsCnt putrecNo invtType etpsInnerInvtNo bizopEtpsno"
            " bizopEtpsSccd bizopEtpsNm rcvgdEtpsno rvsngdEtpsSccd rcvgdEtpsNm dclEtpsno"
            " dclEtpsSccd dclEtpsNm inputCode inputCreditCode inputName inputTime rltInvtNo"
            " rltPutrecNo impexpPortcd dclPlcCuscd impexpMarkcd mtpckEndprdMarkcd supvModecd"
            " trspModecd applyNo listType dclcusFlag dclcusTypecd icCardNo listStat decType rmk"
            " stshipTrsarvNatcd entryNo rltEntryNo dclTypecd invtDclTime genDecFlag".split()
        ),
        business_key="etpsInnerInvtNo",
        message_fields=("SysId", "OperCusRegCode"),
        lines="InvtListType",
        line_order=tuple(
            "seqNo gdsSeqno putrecSeqno gdsMtno gdecd gdsNm gdsSpcfModelDesc dclUnitcd"
            " lawfUnitcd secdLawfUnitcd natcd dclUprcAmt dclTotalAmt usdStatTotalAmt dclCurrcd"
            " lawfQty secdLawfQty wtSfVal fstSfVal secdSfVal dclQty grossWt netWt lvyrlfModecd"
            " ucnsVerno clyMarkcd entryGdsSeqno applyTbSeqno destinationNatcd modfMarkcd"
            " rmk".split()
        ),
    ),
    "SAS121": _Layout(
        message="PassPortMessage",
        head="PassportHead",
        head_order=tuple(
            "seqNo passportNo passportTypecd masterCuscd dclTypecd ioTypecd bindTypecd"
            " rltTbTypecd rltNo areainOriactNo areainEtpsno areainEtpsNm areainEtpsSccd"
            " vehicleNo vehicleIcNo containerNo vehicleWt vehicleFrameNo vehicleFrameWt"
            " containerType containerWt totalWt totalGrossWt totalNetWt dclErConc dclTime"
            " dclEtpsno dclEtpsNm dclEtpsSccd inputCode inputSccd inputName etpsPreentNo rmk"
            " col1".split()
        ),
        business_key="etpsPreentNo",
        message_fields=("OperCusRegCode",),
        lines="PassportList",
        line_order=tuple(
            "seqNo passportNo passportSeqNo rltGdsSeqno gdsMtno gdecd gdsNm dclUnitcd dclQty"
            " grossWt netWt rmk".split()
        ),
        acmp="PassportAcmp",
        acmp_order=("seqNo", "passPortNo", "rltTbTypecd", "rltNo"),
    ),
}
# PassportAcmp spells these two differently from the payload (sic in the sources).
ACMP_ELEMENTS = {"rltTbTypecd": "RtlBillTypecd", "rltNo": "RtlBillNo"}
ACMP_FIELDS = {element: field for field, element in ACMP_ELEMENTS.items()}


def render_xml(
    message_type: str,
    payload: dict,
    *,
    sender_id: str | None = None,
    receiver_id: str = "DXPEDCSAS0000001",
    message_id: str,
    send_time: str,
) -> str:
    """The message as the special-area system's XML: UTF-8, deterministic, None fields omitted.

    A declaration writes the fields its schema has (tally/customs/schemas), in its order; the
    payload's bookkeeping (manifestLineNos, lineLists, tallyDiscrepancies) stays out. The sender
    is the payload's envelope sender_id (the Single Window channel id) unless given."""
    layout = _layout(message_type)
    head = dict(payload["head"])
    envelope_values = payload.get("envelope") or {}
    if head.get("dclTypecd", payload.get("dclTypecd")) != payload.get("dclTypecd"):
        raise ValueError("dclTypecd differs between the payload and its head")
    head["dclTypecd"] = payload.get("dclTypecd")
    package = ET.Element("Package")
    envelope = ET.SubElement(package, "EnvelopInfo")
    values = (XML_VERSION, head.get(layout.business_key), message_id, f"{message_id}.xml",
              message_type, sender_id or envelope_values.get("sender_id"), receiver_id,
              send_time)
    _add_fields(envelope, zip(ENVELOPE, values, strict=True), str)
    _add_fields(envelope, [("Ic_Card", envelope_values.get("Ic_Card"))], str)
    data = ET.SubElement(ET.SubElement(package, "DataInfo"), "BussinessData")
    _add_fields(data, [("DelcareFlag", payload.get("DelcareFlag"))], str)
    body = ET.SubElement(data, layout.message)
    _add_fields(body, [(name, payload.get(name)) for name in layout.message_fields], str)
    _add_fields(ET.SubElement(body, layout.head), _ordered(head, layout.head_order), _pascal)
    for line in payload.get("lines", []) if layout.lines else []:
        _add_fields(ET.SubElement(body, layout.lines), _ordered(line, layout.line_order),
                    _pascal)
    for item in payload.get("acmp", []) if layout.acmp else []:
        fields = _ordered(item, layout.acmp_order)
        _add_fields(ET.SubElement(body, layout.acmp), fields,
                    lambda field: ACMP_ELEMENTS.get(field) or _pascal(field))
    root = ET.Element("Signature", {"xmlns:xsi": XSI})
    ET.SubElement(root, "Object", {"Id": "String"}).append(package)
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def parse_xml(text: str | bytes) -> tuple[str, dict]:
    """(message_type, payload) from render_xml's XML; every value comes back as text."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as e:
        raise ValueError(f"not well-formed XML: {e}") from None
    message_type = root.findtext(".//EnvelopInfo/message_type")
    layout = _layout(message_type)
    data = root.find(".//DataInfo/BussinessData")
    body = data.find(layout.message) if data is not None else None
    head = body.find(layout.head) if body is not None else None
    if head is None:
        raise ValueError(f"{message_type}: no BussinessData/{layout.message}/{layout.head}")
    field = _camel
    payload: dict = {"envelope": {"sender_id": root.findtext(".//EnvelopInfo/sender_id"),
                                  "Ic_Card": root.findtext(".//EnvelopInfo/Ic_Card")}}
    if data.find("DelcareFlag") is not None:
        payload["DelcareFlag"] = data.findtext("DelcareFlag")
    for name in layout.message_fields:
        if body.find(name) is not None:
            payload[name] = body.findtext(name)
    payload["head"] = _read_fields(head, field)
    if "dclTypecd" in payload["head"]:
        payload["dclTypecd"] = payload["head"].pop("dclTypecd")
    if layout.lines:
        payload["lines"] = [_read_fields(e, field) for e in body.findall(layout.lines)]
    if layout.acmp:
        payload["acmp"] = [_read_fields(e, lambda tag: ACMP_FIELDS.get(tag) or _camel(tag))
                           for e in body.findall(layout.acmp)]
    return message_type, payload


SCHEMAS = Path(__file__).parent / "schemas"


@functools.cache
def _schema(message_type: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMAS / f"{message_type}.xsd")))


def schema_problems(message_type: str, text: str | bytes) -> list[str]:
    """What is wrong with a message's XML against its XML Schema (tally/customs/schemas/
    <type>.xsd, written from the sources in docs/customs.md); empty when it is valid. Every
    declaration is checked so before it is sent (tally/outbox.py)."""
    schema = _schema(message_type)
    raw = text.encode("utf-8") if isinstance(text, str) else text
    try:
        document = etree.fromstring(raw, etree.XMLParser(resolve_entities=False,
                                                         no_network=True))
    except etree.XMLSyntaxError as exc:
        return [f"not well-formed XML: {exc}"]
    if schema.validate(document):
        return []
    return [f"line {e.line}: {e.message}" for e in schema.error_log]


def _layout(message_type) -> _Layout:
    if message_type not in LAYOUTS:
        raise ValueError(f"message type must be one of {', '.join(LAYOUTS)}, "
                         f"got {message_type!r}")
    return LAYOUTS[message_type]


def _ordered(fields: dict, order: tuple) -> list[tuple]:
    """The fields its schema has, in the schema's order (the payload's bookkeeping stays out)."""
    return [(name, fields[name]) for name in order if name in fields]


def _add_fields(parent: ET.Element, fields, element_name) -> None:
    for name, value in fields:
        if value is not None:  # None: the element is left out
            ET.SubElement(parent, element_name(name)).text = str(value)


def _read_fields(element: ET.Element, field_name) -> dict:
    return {field_name(child.tag): child.text or "" for child in element}


def _pascal(name: str) -> str:
    return name[:1].upper() + name[1:]


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]
