"""The receipts customs sends, shaped as the real ones (as JSON: element names kept).

Read in real customs receipts of customs district 3111 (ronannnn/gx-customs-bridge,
internal/services/customs/sas/test/*.xml) and its models (pkg/customs/commonmodels/models.go,
pkg/customs/sasmodels/{inv201,sas221,sas223,sas224}_models.go):

- the answer to a declaration is a CommonResponeMessage: SeqNo (预录入统一编号, 18 digits),
  EtpsPreentNo (the enterprise's own number), CheckInfo, DealFlag (0 imported, other: failed;
  a failed import carries no SeqNo);
- then, per message, a Package with EnvelopInfo (message_id, message_type, send_time) and
  BussinessData/<type>/HdeApprResult: etpsPreentNo (the SeqNo), businessId (the QD or Z
  number), tmsCnt, typecd, manageResult, manageDate ("yyyy-MM-dd HH:mm:ss"), rmk; then the
  document's head (INV201 BondInvtBsc, SAS221/223/224 SasPassportBsc).

Our model where the sources are silent: the reasons of a Z or 3 travel in HdeApprResult.rmk;
businessId is empty until the document is approved.
"""

import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone

CST = timezone(timedelta(hours=8))  # customs stamps receipts in Beijing time
SENDER, RECEIVER = "CUS0000", "E010000"  # as in the real envelopes

# INV201 manageResult: Y stored, Z store failed, then 1 approved and deducted, 2 manual review
# (转人工), 3 returned (退单), 4 pre-deducted (预核扣), 5 approved, not deducted. SAS221: Y/Z/1/2/3.
STORED, STORE_FAILED = "Y", "Z"
APPROVED, REVIEW, RETURNED, PRE_DEDUCTED, NOT_DEDUCTED = "1", "2", "3", "4", "5"
APPROVALS = (APPROVED, PRE_DEDUCTED, NOT_DEDUCTED)
# vrfdedMarkcd of an INV201 (0 not deducted, 1 pre-deducted, 2 deducted) per result.
DEDUCTED = {APPROVED: "2", PRE_DEDUCTED: "1", NOT_DEDUCTED: "0"}
# SAS224, the disposal of a truck customs inspected at the gate: 2 refused, 3 released.
GATE_REFUSED, GATE_RELEASED = "2", "3"
CHECK_INFO = {"INV101": "保税核注清单申报服务调用成功", "SAS121": "核放单申报服务调用成功"}


def stamp(ts: float) -> str:
    """yyyy-MM-dd HH:mm:ss in Beijing time, as manageDate and passTime are written."""
    return datetime.fromtimestamp(ts, CST).strftime("%Y-%m-%d %H:%M:%S")


def common_response(seq_no: str | None, etps_no: str, check_info: str, deal_flag: str) -> dict:
    """The first answer to a declaration (DealFlag 0 imported, -1 refused)."""
    body = {"SeqNo": seq_no, "EtpsPreentNo": etps_no, "CheckInfo": check_info,
            "DealFlag": deal_flag}
    if seq_no is None:
        del body["SeqNo"]  # a refused import has none (the real failed answer has no SeqNo)
    return {"CommonResponeMessage": body}


def message_id(ts: float, serial: int) -> str:
    """The envelope's message_id: sender, receiver, time, serial (as in the real receipts)."""
    return f"{SENDER}{RECEIVER}{datetime.fromtimestamp(ts, CST):%Y%m%d%H%M%S}{serial:011d}"


def package(message_type: str, ts: float, serial: int, result: dict, body_name: str,
            body: dict) -> dict:
    """One receipt: the envelope's fields, HdeApprResult and the document's head."""
    return {"message_id": message_id(ts, serial), "message_type": message_type,
            "send_time": datetime.fromtimestamp(ts, CST).strftime("%Y-%m-%dT%H:%M:%S"),
            "HdeApprResult": result, body_name: body}


def appr_result(seq_no: str, business_id: str | None, result: str, ts: float, *,
                typecd: str = "1", tms_cnt: int = 0, rmk: str = "") -> dict:
    """HdeApprResult: the SeqNo in etpsPreentNo, the QD / Z number in businessId."""
    return {"etpsPreentNo": seq_no, "businessId": business_id or "", "tmsCnt": str(tms_cnt),
            "typecd": typecd, "manageResult": result, "manageDate": stamp(ts), "rmk": rmk}


def bond_invt_bsc(seq_no: str, document: dict, version: dict, result: str) -> dict:
    """INV201's head: the list's numbers and, once approved, its deduction mark."""
    approved = result in APPROVALS
    return {"bondInvtNo": document["number"] if approved else "",
            "chgTmsCnt": str(version["tmsCnt"]), "invtPreentNo": seq_no,
            "etpsInnerInvtNo": document["etpsNo"], "dclTypecd": version["dclTypecd"],
            # invtStucd: 0 approved, 1 declared, 2 returned (gx-customs-bridge's model comment)
            "invtStucd": "0" if approved else ("2" if result == RETURNED else "1"),
            "vrfdedMarkcd": DEDUCTED.get(result, "0")}


def sas_passport_bsc(seq_no: str, document: dict, version: dict, *, stucd: str,
                     gate: dict | None = None) -> dict:
    """SAS221/223/224's head: the release order as customs holds it, with the passage."""
    head = version["payload"]["head"]
    gate = gate or {}
    fields = ("passportTypecd", "ioTypecd", "bindTypecd", "masterCuscd", "rltTbTypecd", "rltNo",
              "vehicleNo", "vehicleIcNo", "vehicleWt", "vehicleFrameWt", "containerNo",
              "containerWt", "totalWt", "totalGrossWt", "totalNetWt")
    return {"passportNo": document["number"] or "", "chgTmsCnt": "0",
            "sasPassportPreentNo": seq_no, "etpsPreentNo": document["etpsNo"],
            "dclTypecd": version["dclTypecd"],
            **{field: str(head.get(field) or "") for field in fields},
            "passCollectWt": gate.get("passCollectWt", ""), "wtError": gate.get("wtError", ""),
            "passID": gate.get("passID", ""), "secdPassId": gate.get("secdPassId", ""),
            "passTime": gate.get("passTime", ""), "secdPassTime": gate.get("secdPassTime", ""),
            "stucd": stucd}


# -- as files: what the Single Window client puts into the enterprise's inbox folder ----------
XMLDSIG = "http://www.w3.org/2000/09/xmldsig#"  # the real receipts' default namespace [G]
RECEIPT_HEADS = ("BondInvtBsc", "SasPassportBsc")


def common_response_xml(answer: dict) -> bytes:
    """A CommonResponeMessage as the client writes it (gx-customs-bridge's Successed_*.xml)."""
    root = ET.Element("CommonResponeMessage")
    for name in ("SeqNo", "EtpsPreentNo", "CheckInfo", "DealFlag"):
        if name in answer:
            ET.SubElement(root, name).text = str(answer[name] or "")
    ET.indent(root, space="  ")
    return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            + ET.tostring(root, "unicode") + "\n").encode("utf-8")


def receipt_xml(receipt: dict) -> bytes:
    """One receipt of the feed as the real XML file (gx-customs-bridge's INV201.xml): Package
    / EnvelopInfo / DataInfo / BussinessData / <type> / HdeApprResult + the document's head."""
    message_type = receipt["message_type"]
    root = ET.Element("Package", {"xmlns": XMLDSIG})
    envelope = ET.SubElement(root, "EnvelopInfo")
    suffix = "INV" if message_type.startswith("INV") else "SAS"
    for name, value in (("version", "1.0"), ("message_id", receipt["message_id"]),
                        ("file_name", f"{receipt['message_id']}.{suffix}"),
                        ("message_type", message_type), ("sender_id", SENDER),
                        ("receiver_id", RECEIVER), ("send_time", receipt["send_time"])):
        ET.SubElement(envelope, name).text = value
    body = ET.SubElement(ET.SubElement(ET.SubElement(root, "DataInfo"), "BussinessData"),
                         message_type)
    for part in ("HdeApprResult", *RECEIPT_HEADS):
        if part in receipt:
            element = ET.SubElement(body, part)
            for name, value in receipt[part].items():
                ET.SubElement(element, name).text = "" if value is None else str(value)
    ET.indent(root, space="  ")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            + ET.tostring(root, "unicode") + "\n").encode("utf-8")
