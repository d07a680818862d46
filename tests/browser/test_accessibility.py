"""Every page in real Chromium, checked by axe-core (fetched by `make test`): no serious or
critical violation, at phone and desk sizes, with consignments in the states that show each
page's parts (arrived, counting with some units counted, released with a release order)."""

import pytest

from tests.browser.conftest import PAGE_IDS, axe_violations, describe_violations, open_page

# What a page shows in that state, so that the check covers it (known failures were there).
SHOWN = {
    "inspection-held": ".disposition-fumigate",
    "labels-arrived": "#download-pdf.disabled[aria-disabled=true]",
    "labels-counting": "#download-pdf:not(.disabled)",
    "gate": "#refresh-orders",
    "consignment-released": "[data-testid=release-orders] tbody tr",
    "report-counting": "[data-testid=records] tbody tr[data-record]",
}


@pytest.mark.parametrize("size", ["phone", "desk"])
@pytest.mark.parametrize("page_id", PAGE_IDS)
def test_no_serious_or_critical_violation(signed_in_views, consignments, size, page_id):
    page = open_page(signed_in_views, consignments, size, page_id)
    if page_id in SHOWN:
        page.wait_for_selector(SHOWN[page_id])
    assert page.locator("h1").count() == 1  # every page says what it is, once
    violations = axe_violations(page)
    assert not violations, f"{page_id} at {size} size:\n{describe_violations(violations)}"


def test_the_check_finds_a_violation(signed_in_views, consignments):
    # The check itself works: a button with no name and grey-on-grey text are reported.
    page = open_page(signed_in_views, consignments, "desk", "consignments")
    page.evaluate("""() => {
        const b = document.createElement('button');
        document.querySelector('main').append(b);
        const p = document.createElement('p');
        p.textContent = 'faint';
        p.style.color = '#aaa';
        p.style.background = '#bbb';
        document.querySelector('main').append(p);
    }""")
    found = {v["id"]: v for v in axe_violations(page)}
    assert {"button-name", "color-contrast"} <= set(found), describe_violations([*found.values()])
    assert "button-name (critical)" in describe_violations([found["button-name"]])
