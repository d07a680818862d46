"""The pages of a long manifest show one page of its lines (issue 11: the inspection page of a
100,000-line manifest rendered ~420 MB of HTML)."""

import json
import re

import pytest

from tally.inspections import ASPECTS
from tests.conftest import passing_inspection
from web.pages import PAGE_SIZE

LINES = 3_000


@pytest.fixture
def big(as_, client, tokens):
    """A 3,000-line manifest (arrived), and the test client signed in as a supervisor."""
    lines = [{"line_no": n, "sku": f"SKU-{n}", "name": f"商品 Item {n}", "declared_qty": 2,
              "origin_country": "AU", "unit_value": "12.50", "currency": "USD",
              "hs_code": "1901101000"} for n in range(1, LINES + 1)]
    created = as_("supervisor").post("/api/manifests", json={"manifest_no": "MF-LONG",
                                                             "lines": lines})
    assert created.status_code == 201
    assert client.post("/login", data={"token": tokens["supervisor"]}).status_code == 302
    return created.json["id"]


def shown(html: str, attribute: str) -> list[int]:
    return [int(n) for n in re.findall(rf'<tr {attribute}="(\d+)"', html)]


def page_json(html: str) -> dict:
    found = re.search(r'<script type="application/json" id="inspection-page">(.*?)</script>',
                      html, re.S)
    return json.loads(found.group(1))


def test_the_inspection_form_shows_a_page_of_lines_and_checks_them_all(client, big):
    first = client.get(f"/manifests/{big}/inspection").get_data(as_text=True)
    assert shown(first, "data-line-no") == list(range(1, PAGE_SIZE + 1))
    assert len(first) < 1_000_000  # all 3,000 lines were ~12.6 MB
    assert f"行 Lines 1–{PAGE_SIZE} / {LINES}" in first and 'href="?page=2"' in first
    # Every line number travels with the page as runs, for the checks of lines on other pages.
    assert page_json(first)["line_runs"] == [[1, LINES]]
    second = client.get(f"/manifests/{big}/inspection?page=2").get_data(as_text=True)
    assert shown(second, "data-line-no") == list(range(PAGE_SIZE + 1, 2 * PAGE_SIZE + 1))
    assert f"{PAGE_SIZE + 1}–{2 * PAGE_SIZE} / {LINES}" in second
    assert len(second) < 1_000_000


@pytest.mark.parametrize("query, first_line", [
    ("page=abc", 1), ("page=0", 1), ("page=-2", 1), ("page=١", 1), (f"page={'9' * 40}", 1),
    ("page=16", LINES - PAGE_SIZE + 1), (f"page={2**63 - 1}", LINES - PAGE_SIZE + 1),
])
def test_a_malformed_page_is_the_first_and_a_far_one_the_last(client, big, query, first_line):
    html = client.get(f"/manifests/{big}/inspection?{query}").get_data(as_text=True)
    assert shown(html, "data-line-no")[0] == first_line


def test_the_recorded_inspection_carries_only_its_failed_checks(as_, client, big):
    body = passing_inspection(range(1, LINES + 1), signed=False)
    for check in body["checks"][2_500:2_503]:
        check["quantity"] = {"result": "fail", "note": "1 carton missing"}
    recorded = as_("operator").post(f"/api/manifests/{big}/inspections", json=body)
    assert recorded.status_code == 201, recorded.json
    html = client.get(f"/manifests/{big}/inspection").get_data(as_text=True)
    checks = page_json(html)["inspection"]["checks"]
    assert [c["line_no"] for c in checks] == [2_501, 2_502, 2_503]
    assert checks[0]["quantity"] == {"result": "fail", "note": "1 carton missing"}
    assert len(html) < 1_000_000


def test_the_report_shows_a_page_of_lines(client, big):
    first = client.get(f"/manifests/{big}/report").get_data(as_text=True)
    assert shown(first, "data-line")[:1] == [1] and len(shown(first, "data-line")) == PAGE_SIZE
    assert len(first) < 400_000
    third = client.get(f"/manifests/{big}/report?page=3").get_data(as_text=True)
    assert shown(third, "data-line") == list(range(2 * PAGE_SIZE + 1, 3 * PAGE_SIZE + 1))
    chart = json.loads(re.search(r'id="chart-data">(.*?)</script>', third, re.S).group(1))
    assert [line["line_no"] for line in chart] == shown(third, "data-line")
    # The totals stay the whole manifest's.
    assert f'data-testid="total-declared">{2 * LINES}<' in third


def test_the_labels_page_shows_a_page_of_lines(client, big):
    html = client.get(f"/labels?manifest={big}&page=2").get_data(as_text=True)
    assert shown(html, "data-line") == list(range(PAGE_SIZE + 1, 2 * PAGE_SIZE + 1))
    assert f'href="?manifest={big}&amp;page=3"' in html  # the link keeps the consignment
    assert f"<th class=\"num\">{2 * LINES}</th>" in html
    assert len(html) < 200_000


def test_the_consignment_page_names_a_few_unmet_conditions(as_, client, big):
    body = passing_inspection(range(1, LINES + 1))
    for check in body["checks"][:50]:
        check["nature"] = {"result": "fail", "note": "not as declared"}
    assert as_("operator").post(f"/api/manifests/{big}/inspections", json=body).status_code == 201
    html = client.get(f"/manifests/{big}").get_data(as_text=True)
    assert html.count("nature check failed") == 20
    assert "and 30 more" in html


def test_an_inspection_may_list_only_the_lines_that_failed(as_, big):
    body = passing_inspection([], signed=False)
    body["checks"] = [{"line_no": 2_999, **{a: {"result": "pass"} for a in ASPECTS},
                       "value": {"result": "fail", "note": "under-declared"}}]
    refused = as_("operator").post(f"/api/manifests/{big}/inspections", json=body)
    assert refused.status_code == 422 and "missing line(s) 1, 2" in refused.json["errors"][0][
        "message"]
    body["other_lines"] = "pass"
    recorded = as_("operator").post(f"/api/manifests/{big}/inspections", json=body)
    assert recorded.status_code == 201, recorded.json
    checks = {c["line_no"]: c for c in recorded.json["checks"]}
    assert len(checks) == LINES and checks[1]["nature"] == {"result": "pass", "note": None}
    assert checks[2_999]["value"] == {"result": "fail", "note": "under-declared"}


def test_other_lines_can_only_pass(as_, big):
    body = {**passing_inspection([], signed=False), "other_lines": "fail"}
    answer = as_("operator").post(f"/api/manifests/{big}/inspections", json=body)
    assert answer.status_code == 422 and answer.json["errors"][0]["field"] == "other_lines"
