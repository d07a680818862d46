"""labels.report_sheet: the reconciliation report PDF (pure: no database, no Flask)."""

import numpy as np
import pypdfium2

from labels.report_sheet import (
    compose_reconciliation,
    format_time,
    progress,
    render_reconciliation_pages,
    render_reconciliation_pdf,
)
from labels.sheet_layout import DPI

A4_PT = (595.28, 841.89)


def report(line_count: int, records: int = 0) -> dict:
    """A reconciliation as tally.reconcile builds it: every third line one short."""
    lines = []
    for n in range(1, line_count + 1):
        short = n % 3 == 0
        explained = short and n % 2 == 0
        discrepancies = (
            [{"id": n, "line_no": n, "kind": "short", "qty": 1, "note": "箱内少一件",
              "disposition": "按实收 settle on actual received", "action": "record",
              "supersedes_id": None, "superseded_by": None, "in_force": True,
              "created_at": "2026-03-02T08:15:00.000Z", "recorded_by": "operator-1"}]
            if explained else []
        )
        lines.append({
            "line_no": n, "sku": f"SKU-{n:04d}", "name": f"婴儿奶粉 900g 第{n}批",
            "declared": 3, "counted": 2 if short else 3, "difference": -1 if short else 0,
            "status": "short" if short else "match", "explained": -1 if explained else 0,
            "unexplained": -1 if short and not explained else 0, "discrepancies": discrepancies,
        })
    declared = 3 * line_count
    counted = sum(line["counted"] for line in lines)
    unexplained = sum(1 for line in lines if line["unexplained"])
    extra = [
        {"id": 1000 + i, "line_no": None, "kind": "wrong_item", "qty": 2, "note": f"note {i}",
         "disposition": None, "action": "record", "supersedes_id": None,
         "superseded_by": 2000 + i, "in_force": False,
         "created_at": "2026-03-02T09:00:00.000Z", "recorded_by": "supervisor-1"}
        for i in range(records)
    ]
    return {
        "manifest": {"id": 1, "manifest_no": "MF-REPORT-1", "bill_no": "BL-9",
                     "status": "written_off"},
        "lines": lines,
        "totals": {"declared": declared, "counted": counted, "lines": line_count,
                   "match": line_count - line_count // 3, "short": line_count // 3, "over": 0,
                   "unexplained_lines": unexplained, "difference": counted - declared},
        "balanced": unexplained == 0,
        "unassigned_discrepancies": [],
        "records": [d for line in lines for d in line["discrepancies"]] + extra,
        "tally": None,
        "generated_at": "2026-03-02T10:30:00.000Z",
    }


def rasterize(pdf: bytes) -> list[tuple[tuple[float, float], np.ndarray]]:
    document = pypdfium2.PdfDocument(pdf)
    try:
        return [
            (page.get_size(), np.asarray(page.render(scale=DPI / 72).to_pil().convert("L")))
            for page in document
        ]
    finally:
        document.close()


def test_page_count_grows_with_lines():
    counts = [len(compose_reconciliation(report(n))) for n in (3, 40, 200)]
    assert counts[0] == 1
    assert counts[0] < counts[1] < counts[2]
    pdf = render_reconciliation_pdf(report(200, records=30))
    pages = rasterize(pdf)
    assert len(pages) == len(compose_reconciliation(report(200, records=30))) > counts[2] - 1
    for size, _ in pages:
        assert abs(size[0] - A4_PT[0]) < 0.5 and abs(size[1] - A4_PT[1]) < 0.5


def test_pages_are_printed_not_blank():
    pdf = render_reconciliation_pdf(report(3, records=2))
    [(_, image)] = rasterize(pdf)
    ink = (image < 128).mean()
    assert 0.01 < ink < 0.3  # text, rules and the progress bar; far from a black page
    # The title sits in the top band, the footer in the bottom band.
    height = image.shape[0]
    assert (image[: height // 10] < 128).any() and (image[-height // 12:] < 128).any()


def test_headers_repeat_and_every_page_has_a_folio():
    pages = compose_reconciliation(report(120))
    assert len(pages) >= 3
    for page in pages:
        texts = [text.text for text in page.texts]
        assert f"{page.number}/{len(pages)}" in texts
        assert "舱单号 Manifest no. MF-REPORT-1" in texts
    # The line table's header row (申报 / Declared) is on every page the table runs onto.
    table_pages = [p for p in pages if any(t.text.startswith("SKU-") for t in p.texts)]
    assert len(table_pages) >= 2
    for page in table_pages:
        assert any(t.text == "Declared" for t in page.texts)
    assert any("(续 continued)" in t.text for t in pages[1].texts)


def test_chinese_text_and_totals_are_laid_out():
    pages = compose_reconciliation(report(6, records=1))
    texts = [text.text for page in pages for text in page.texts]
    assert any("婴儿奶粉 900g 第1批" in text for text in texts)
    assert "18" in texts and "16" in texts and "-2" in texts  # totals: declared, counted, diff
    assert any("#2000" in text for text in texts)  # superseded by the correction #2000
    assert any("未说明 Unexplained -1" in text for text in texts)
    image = render_reconciliation_pages(report(6))[0]
    assert image.size == (round(210 * DPI / 25.4), round(297 * DPI / 25.4))


def test_empty_manifest_and_helpers():
    empty = report(0)
    empty["manifest"]["bill_no"] = None
    pages = compose_reconciliation(empty)
    texts = [text.text for page in pages for text in page.texts]
    assert "无舱单行 The manifest has no lines" in texts
    assert "无差异记录 No discrepancies recorded" in texts
    assert format_time("2026-03-02T10:30:00.000Z") == "2026-03-02 10:30 UTC"
    assert format_time(None) == "—"
    assert progress(5, 6) == 5 / 6 and progress(8, 6) == 1.0 and progress(0, 0) == 0.0


def test_lots_are_listed_with_their_expiry_warning_only_when_cartons_were_scanned():
    plain = report(3)
    texts = [t.text for page in compose_reconciliation(plain) for t in page.texts]
    assert not any("批次效期" in t for t in texts)
    with_lots = report(3)
    with_lots["expiry_warning_days"] = 90
    with_lots["lines"][0]["lots"] = [
        {"batch": "LOT-A7", "expiry": "2027-02-01", "counted": 2, "expiry_soon": True,
         "expired": False},
        {"batch": "LOT-B1", "expiry": "2029-12-31", "counted": 1, "expiry_soon": False,
         "expired": False}]
    texts = [t.text for page in compose_reconciliation(with_lots) for t in page.texts]
    assert any("批次效期 Lots" in t for t in texts)
    assert "LOT-A7" in texts and "LOT-B1" in texts and "2027-02-01" in texts
    assert sum("within 90 days" in t for t in texts) == 1
