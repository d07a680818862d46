"""Messages that arrive at the simulated customs as XML (over HTTP with an XML content type, and
through the Single Window client's folders): checked against their XML Schema as they arrived,
before parse_xml reads them into a payload; and release orders relating several inventory lists,
whose XML does not say which list a goods line draws on."""

import http.client
import json
import re

import pytest

from customs_sim import validation
from customs_sim.folders import FolderExchange
from tally.customs.client import CustomsRejected
from tally.customs.message_xml import render_xml
from tests.customs.test_simulator import answer_of, approved_list, inventory, passport, received

SCHEMA_REFUSAL = "报文格式校验不通过"


def xml(kind: str, payload: dict) -> str:
    return render_xml(kind, payload, sender_id="DXPENT0000018755", message_id="M1",
                      send_time="2026-01-01T00:00:00")


def post_xml(sim, kind: str, text: str, key: str) -> tuple[int, dict]:
    path = {"INV101": "/api/inventories", "SAS121": "/api/passports"}[kind]
    conn = http.client.HTTPConnection(sim.host, sim.port, timeout=5)
    try:
        conn.request("POST", path, body=text.encode("utf-8"),
                     headers={"Content-Type": "application/xml; charset=utf-8",
                              "Idempotency-Key": key})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def without(text: str, element: str) -> str:
    """The XML with the first <element>...</element> left out."""
    changed = re.sub(rf"\s*<{element}>[^<]*</{element}>", "", text, count=1)
    assert changed != text
    return changed


def with_unknown(text: str) -> str:
    """The XML with an element no schema has, inside the list's line (parse_xml reads it as a
    field of the line; the re-rendered payload would have dropped it)."""
    changed = text.replace("</GdsNm>", "</GdsNm>\n        <Brand>Acme</Brand>", 1)
    assert changed != text
    return changed


def swapped(text: str, first: str, second: str) -> str:
    """The XML with element ``second`` moved before ``first`` (the schema's order broken; the
    payload parse_xml reads is the same)."""
    a = re.search(rf"<{first}>[^<]*</{first}>", text)[0]
    b = re.search(rf"<{second}>[^<]*</{second}>", text)[0]
    return text.replace(a, "\0").replace(b, a).replace("\0", b)


# -- the XML as it arrived is checked against its schema ----------------------------------------

@pytest.mark.parametrize(("change", "element"), [
    (with_unknown, "Brand"),                                        # an element no source has
    (lambda text: without(text, "IcCardNo"), "IcCardNo"),            # required in the head
    (lambda text: without(text, "GdsNm"), "GdsNm"),                  # required on a line
    (lambda text: without(text, "DclQty"), "DclQty"),                # was a 400 before
    (lambda text: swapped(text, "GdsMtno", "Gdecd"), "GdsMtno"),     # the schema's order
])
def test_an_inv101_xml_that_fails_its_schema_is_refused_with_deal_flag_minus_one(sim, change,
                                                                               element):
    status, body = post_xml(sim, "INV101", change(xml("INV101", inventory())), "x1")
    answer = body["CommonResponeMessage"]
    assert status == 200 and answer["DealFlag"] == "-1" and "SeqNo" not in answer
    assert answer["CheckInfo"].startswith(SCHEMA_REFUSAL) and element in answer["CheckInfo"]
    assert answer["EtpsPreentNo"] == "E2026000001"
    assert received(sim)["count"] == 0


def test_a_valid_inv101_xml_is_accepted(sim):
    status, body = post_xml(sim, "INV101", xml("INV101", inventory()), "x1")
    assert status == 200 and body["CommonResponeMessage"]["DealFlag"] == "0"
    assert received(sim)["count"] == 1


def test_the_refusal_is_replayed_and_the_corrected_message_needs_a_new_key(sim):
    bad = with_unknown(xml("INV101", inventory()))
    first = post_xml(sim, "INV101", bad, "x1")
    assert post_xml(sim, "INV101", bad, "x1") == first
    # parse_xml reads the same payload from the corrected XML: the key must not replay the
    # refusal as if it were the same message.
    status, body = post_xml(sim, "INV101", xml("INV101", inventory()), "x1")
    assert status == 422
    status, body = post_xml(sim, "INV101", xml("INV101", inventory()), "x2")
    assert body["CommonResponeMessage"]["DealFlag"] == "0"


def test_a_message_that_is_no_xml_message_is_still_400(sim):
    status, body = post_xml(sim, "INV101", "<Signature/>", "x1")
    assert status == 400 and "body is not a INV101 message" in body["error"]
    status, body = post_xml(sim, "INV101", xml("SAS121", passport("RO1", {"QD423026I1": 1})),
                            "x2")
    assert status == 400 and "takes INV101 messages" in body["error"]


def test_decode_checks_the_raw_xml_as_the_folder_path_calls_it(sim):
    # folders.py: validation.decode(raw, "application/xml", kind), then customs.receive(...)
    raw = with_unknown(xml("INV101", inventory())).encode("utf-8")
    payload, error = validation.decode(raw, "application/xml", "INV101")
    assert error is None and "Brand" in " ".join(validation.arrived_problems(payload))
    status, body = sim.customs.receive("INV101", payload, "INV101_I_E2026000001")
    assert status == 200 and body["CommonResponeMessage"]["DealFlag"] == "-1"
    payload, error = validation.decode(json.dumps(inventory()).encode(), "application/json",
                                       "INV101")
    assert error is None and validation.arrived_problems(payload) is None  # JSON: as before


def test_a_dropped_file_that_fails_its_schema_gets_a_failed_answer(sim, tmp_path):
    outbox, inbox = tmp_path / "OutBox", tmp_path / "InBox"
    exchange = FolderExchange(sim.customs, outbox, inbox)
    (outbox / "INV101_I_E2026000001_t-1.xml").write_text(with_unknown(xml("INV101", inventory())),
                                                         encoding="utf-8")
    assert exchange.poll() == 1
    [answer_file] = inbox.glob("Failed_INV101_I_E2026000001_t-1_*.xml")
    text = answer_file.read_text(encoding="utf-8")
    assert "<DealFlag>-1</DealFlag>" in text and SCHEMA_REFUSAL in text and "Brand" in text
    assert received(sim)["count"] == 0


# -- release orders relating several inventory lists, as XML ------------------------------------

def release_xml(number: str, quantities: dict, *, items=None) -> str:
    """SAS121 XML relating the lists of ``quantities`` ({bondInvtNo: qty of line 1}): one goods
    line per list, none saying which list (the XML cannot); ``items`` the lines' gdsMtno
    (default the golden list's SKU-MILK)."""
    payload = passport(number, quantities, bind="1", vehicle=f"沪A{number[-1]}0000")
    for i, line in enumerate(payload["lines"]):
        line["gdsMtno"] = items[i] if items else "SKU-MILK"
    return xml("SAS121", payload)


def list_of(client, number: str, item: str, qty: int) -> str:
    """An approved one-line inventory list of ``qty`` of ``item``: its bondInvtNo."""
    payload = inventory(number, qty=qty)
    payload["lines"][0]["gdsMtno"] = item
    seq_no = answer_of(client.send_inventory(payload, idempotency_key=number))["SeqNo"]
    [approval] = [r for r in client.fetch_receipts()
                  if r["HdeApprResult"]["etpsPreentNo"] == seq_no
                  and r["HdeApprResult"]["manageResult"] == "1"]
    return approval["HdeApprResult"]["businessId"]


def refusal(sim, text: str, key: str) -> str:
    status, body = post_xml(sim, "SAS121", text, key)
    answer = body["CommonResponeMessage"]
    assert status == 200 and answer["DealFlag"] == "-1", answer
    return answer["CheckInfo"]


def accepted(sim, text: str, key: str) -> None:
    status, body = post_xml(sim, "SAS121", text, key)
    assert status == 200 and body["CommonResponeMessage"]["DealFlag"] == "0", body


def test_a_multi_list_xml_release_order_is_checked_against_its_lists(sim, client):
    a = approved_list(client, "E-A", qty=10)
    b = approved_list(client, "E-B", qty=10)
    # 12 + 5 of the item: more than either list has, within both together.
    accepted(sim, release_xml("RO1", {a: 12, b: 5}), "RO1")
    # It drew on the lists in rltNo order: a is used up, b has 3 left. A JSON order naming its
    # list sees the same.
    with pytest.raises(CustomsRejected) as e:
        client.send_message("SAS121", passport("RO2", {a: 1}, vehicle="沪B1"),
                            idempotency_key="RO2")
    assert "0 remaining of 10" in e.value.detail
    assert "3 remaining of 20" in refusal(sim, release_xml("RO3", {a: 2, b: 2}), "RO3")
    accepted(sim, release_xml("RO4", {a: 1, b: 2}), "RO4")
    with pytest.raises(CustomsRejected) as e:
        client.send_message("SAS121", passport("RO5", {b: 1}, vehicle="沪B5"),
                            idempotency_key="RO5")
    assert "0 remaining of 10" in e.value.detail
    assert [r["etpsPreentNo"] for r in received(sim)["received"]
            if r["kind"] == "SAS121"] == ["RO1", "RO4"]


def test_a_multi_list_xml_release_order_needs_every_list_approved(sim, client):
    a = approved_list(client, "E-A", qty=10)
    assert "unknown to customs" in refusal(
        sim, release_xml("RO1", {a: 1, "QD423026I999999999": 1}), "RO1")


def test_the_item_tells_the_lists_of_a_multi_list_xml_release_order_apart(sim, client):
    milk = list_of(client, "E-MILK", "SKU-MILK", 10)
    tea = list_of(client, "E-TEA", "SKU-TEA", 10)
    accepted(sim, release_xml("RO1", {milk: 10, tea: 4}, items=["SKU-MILK", "SKU-TEA"]), "RO1")
    # The tea list still has 6 of line 1, but of another item.
    assert "0 remaining of 10" in refusal(
        sim, release_xml("RO2", {milk: 1, tea: 1}, items=["SKU-MILK", "SKU-MILK"]), "RO2")
    assert "none of the related inventory lists" in refusal(
        sim, release_xml("RO3", {milk: 1, tea: 1}, items=["SKU-TEA", "SKU-COFFEE"]), "RO3")
    accepted(sim, release_xml("RO4", {milk: 5.5, tea: 0.5}, items=["SKU-TEA", "SKU-TEA"]), "RO4")
