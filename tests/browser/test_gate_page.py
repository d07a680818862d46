"""The gate page (卡口) in real Chromium: a refusal before vehicle-order association, the
association with its live total weight (which declares the release order), customs' approval,
a refusal for the weight, the pass, the gate log."""

import uuid

from tests.browser.conftest import PHONE, screenshot, sign_in
from tests.http import wait_for


def created_release_order(site) -> tuple[dict, dict]:
    """A consignment taken through tally and declaration to a release order waiting for its
    truck (created: nothing sent to customs yet)."""
    manifest = site.cleared_manifest()
    mid = manifest["id"]
    operator, supervisor = site.api["operator"], site.api["supervisor"]
    codes = []
    for line in manifest["lines"]:
        status, issued = operator.call("POST", f"/api/manifests/{mid}/labels", json_body={
            "line_no": line["line_no"], "count": line["declared_qty"]})
        assert status == 201, issued
        codes += [label["code"] for label in issued["labels"]]
    status, scanned = operator.call("POST", f"/api/manifests/{mid}/scans", json_body={
        "scans": [{"code": code, "client_scan_id": f"gate-{code}"} for code in codes]})
    assert status == 200 and {r["outcome"] for r in scanned["results"]} == {"counted"}, scanned
    status, confirmed = supervisor.call("POST", f"/api/manifests/{mid}/tally/confirm")
    assert status == 200, confirmed

    def workflow_status():
        return supervisor.call("GET", f"/api/manifests/{mid}/workflow")[1]["status"]

    # The outbox worker sends the inventory list; receipt polling brings the approval.
    wait_for(lambda: workflow_status() == "declared", timeout=90)
    status, order = supervisor.call("POST", "/api/release-orders", json_body={
        "bind_type": "one_truck_one_ticket", "manifests": [mid]})
    assert status == 201 and order["status"] == "created", order
    return manifest, order


def approved_release_order(site) -> tuple[dict, dict]:
    """A consignment whose release order is declared with its truck and approved by customs."""
    manifest, order = created_release_order(site)
    supervisor, number = site.api["supervisor"], order["etps_preent_no"]
    status, bound = supervisor.call("POST", f"/api/release-orders/{number}/vehicle", json_body={
        "plate": f"沪F{uuid.uuid4().int % 100000:05d}", "tare_wt": "8000", "frame_wt": "1500"})
    assert status == 200 and bound["status"] == "applied", bound
    wait_for(lambda: supervisor.call("GET", f"/api/release-orders/{number}")[1]["status"]
             == "approved", timeout=90)
    return manifest, supervisor.call("GET", f"/api/release-orders/{number}")[1]


def pass_the_gate(page, plate: str, reading: str) -> str:
    """Submit a gate pass; return the outcome shown."""
    page.fill("#pass-form input[name=plate]", plate)
    page.fill("#pass-form input[name=weighbridge_kg]", reading)
    page.click("[data-testid=check-pass]")
    result = page.locator("[data-testid=gate-result]:not([hidden])")
    result.wait_for()
    return result.get_attribute("data-outcome")


def test_gate_refusals_association_and_pass(phone, desk, site):
    manifest, order = created_release_order(site)
    mid, number = manifest["id"], order["etps_preent_no"]
    assert order["total_gross_wt"] and float(order["total_gross_wt"]) == 6.8
    plate = f"沪G{uuid.uuid4().int % 100000:05d}"

    # The gate booth (an operator on a phone): no association yet, so the truck is refused.
    sign_in(phone, "operator")
    phone.goto("/gate")
    assert "supervisor" in phone.inner_text("[data-testid=association]")
    phone.select_option("#pass-form select[name=direction]", "I")
    assert pass_the_gate(phone, plate, "11700") == "refuse"
    result = phone.inner_text("[data-testid=gate-result]")
    assert "REFUSE" in result and "no release order is associated" in result
    assert phone.input_value("#pass-form input[name=plate]") == plate  # nothing typed is lost
    phone.wait_for_selector(f"[data-testid=gate-log] tr[data-plate='{plate}']")
    screenshot(phone, "gate-refused-phone")

    # The station desk (a supervisor) associates the truck; the total is worked out live.
    sign_in(desk, "supervisor")
    desk.goto("/gate")
    desk.wait_for_selector(f"select[name=release_order] option[value='{number}']", state="attached")
    desk.select_option("select[name=release_order]", number)
    assert "6.8 kg" in desk.inner_text("[data-testid=order-details]")
    desk.fill("#bind-form input[name=plate]", plate)
    desk.fill("#bind-form input[name=ic_card]", "IC-7001")
    desk.fill("#bind-form input[name=tare_wt]", "8000")
    desk.fill("#bind-form input[name=frame_wt]", "1500")
    assert desk.inner_text("[data-testid=live-total] .value") == "9506.8 kg"
    desk.fill("#bind-form input[name=container_no]", "TGHU1234567")
    desk.fill("#bind-form input[name=container_wt]", "2200")
    desk.fill("#bind-form input[name=driver]", "Chen Gang")
    desk.fill("#bind-form input[name=mileage_km]", "42.5")
    assert desk.inner_text("[data-testid=live-total] .value") == "11706.8 kg"
    screenshot(desk, "gate-association-desk")
    desk.click("[data-testid=associate]")
    desk.wait_for_selector("[data-testid=association-result]:not([hidden])")
    assert "11706.8 kg" in desk.inner_text("[data-testid=server-total]")
    assert plate in desk.inner_text("[data-testid=association-result]")
    # The list of orders to associate is loaded again after the result shows: it leaves.
    desk.wait_for_selector(f"select[name=release_order] option[value='{number}']",
                           state="detached")
    # The association declared the release order with its truck (SAS121); customs approves it.
    supervisor = site.api["supervisor"]
    _, declared = supervisor.call("GET", f"/api/release-orders/{number}")
    assert declared["vehicle_no"] == plate and declared["status"] in ("applied", "approved")
    wait_for(lambda: supervisor.call("GET", f"/api/release-orders/{number}")[1]["status"]
             == "approved", timeout=90)
    _, state = supervisor.call("GET", f"/api/manifests/{mid}/workflow")
    assert state["status"] == "released"
    desk.click("#refresh-orders")
    desk.wait_for_selector(f"[data-testid=waiting] >> text={plate}")

    # A weighbridge reading far off the total is refused for the weight, then the pass.
    assert pass_the_gate(desk, plate, "12000") == "refuse"
    assert "over the tolerance" in desk.inner_text("[data-testid=reasons]")
    assert desk.input_value("#pass-form input[name=weighbridge_kg]") == "12000"
    screenshot(desk, "gate-refused-desk")
    desk.fill("#pass-form input[name=weighbridge_kg]", "11700")
    desk.click("[data-testid=check-pass]")
    desk.wait_for_selector("[data-testid=gate-result][data-outcome=pass]:not([hidden])")
    assert "PASS" in desk.inner_text("[data-testid=gate-result]")

    # The log, newest first: the pass, the weight refusal, the refusal before association.
    rows = desk.locator(f"[data-testid=gate-log] tr[data-plate='{plate}']")
    rows.nth(2).wait_for()
    outcomes = [rows.nth(i).get_attribute("data-outcome") for i in range(rows.count())]
    assert outcomes == ["pass", "refuse", "refuse"]
    assert "over the tolerance" in rows.nth(1).inner_text()
    assert "no release order" in rows.nth(2).inner_text()
    assert "超过允许误差" in rows.nth(1).inner_text()  # the log keeps both languages
    assert "没有关联的核放单" in rows.nth(2).inner_text()
    screenshot(desk, "gate-pass-desk")
    desk.set_viewport_size(PHONE)
    screenshot(desk, "gate-pass-phone-width")

    _, state = site.api["supervisor"].call("GET", f"/api/manifests/{mid}/workflow")
    assert state["status"] == "entered"
    desk.goto(f"/manifests/{mid}")
    assert "Entered" in desk.inner_text("[data-testid=status]")
