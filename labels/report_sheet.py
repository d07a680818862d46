"""The tally reconciliation report (理货对账单) as a printable A4 PDF.

Built from the inspection record sheet's machinery in ``labels.sheets``: its flow of blocks onto
pages, its bordered tables whose headers repeat on every page, its 1-bit painter and PDF writer.
Those helpers are private to sheets.py; they are imported rather than copied, so both sheets print
with the same fonts, rules and margins (a ``labels/sheet_layout.py`` would suit both). The
bilingual names come from ``tally.names``, plain data shared with the pages and the exports.
"""

from datetime import datetime

from PIL import Image

from labels.render import MM_PER_INCH, PT_PER_INCH, _PdfWriter
from labels.sheets import (
    BODY_PT,
    EMPTY,
    FAIL_MARK,
    FOOTER_PT,
    LEFT,
    MARGIN_BOTTOM_MM,
    PAGE_H,
    PAGE_MM,
    PAGE_W,
    PASS_MARK,
    RIGHT,
    RULE,
    TITLE_PT,
    TOP,
    SheetPage,
    SheetRule,
    SheetText,
    _cell_lines,
    _cells,
    _columns,
    _dots,
    _fit,
    _Flow,
    _line_height,
    _note,
    _paint,
    _place_row,
    _px,
    _table,
    _width,
)
from tally.names import (
    CORRECTION_ACTION_NAMES,
    DISCREPANCY_KIND_NAMES,
    LINE_STATUS_NAMES,
    MANIFEST_STATUS_NAMES,
)

TITLE = "理货对账单 Tally reconciliation report"

PROGRESS_BAR_MM = 5.0


def format_time(value) -> str:
    """A stored time (ISO 8601, UTC with "Z") as ``YYYY-MM-DD HH:MM UTC``; a dash when missing."""
    if value is None or value == "":
        return EMPTY
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    text = value.strftime("%Y-%m-%d %H:%M")
    offset = value.utcoffset()
    if offset is None:
        return text
    return text + (" UTC" if not offset else value.strftime(" UTC%z"))


def signed(number: int) -> str:
    """A difference with its sign: +1, -2, 0."""
    return f"{number:+d}" if number else "0"


def progress(counted: int, declared: int) -> float:
    """Counted of declared as a fraction, capped at 1 (over-landed goods do not overfill it)."""
    return min(counted / declared, 1.0) if declared > 0 else (1.0 if counted else 0.0)


def _status_cell(status: str) -> str:
    mark = PASS_MARK if status == "match" else FAIL_MARK  # ✘ lines print bold (sheets.py)
    return f"{mark} {LINE_STATUS_NAMES.get(status, status)}"


def _record_text(record: dict) -> str:
    kind = DISCREPANCY_KIND_NAMES.get(record.get("kind"), _note(record.get("kind")))
    text = f"{kind} {record.get('qty')}"
    disposition = _note(record.get("disposition"))
    return text + (f" · {disposition}" if disposition else "")


def _line_discrepancies(line: dict) -> str:
    parts = [_record_text(record) for record in line.get("discrepancies") or ()]
    if line.get("difference"):
        if line.get("unexplained"):
            parts.append(f"{FAIL_MARK} 未说明 Unexplained {signed(line['unexplained'])}")
        else:
            parts.append(f"{PASS_MARK} 已说明 Explained")
    return "\n".join(parts) or EMPTY


def _recorded_cell(record: dict) -> str:
    by = _note(record.get("recorded_by"))
    return format_time(record.get("created_at")) + (f"\n{by}" if by else "")


def _correction_cell(record: dict) -> str:
    action = record.get("action") or "record"
    text = CORRECTION_ACTION_NAMES.get(action, action)
    if record.get("supersedes_id"):
        text += f" #{record['supersedes_id']}"
    return text


def _in_force_cell(record: dict) -> str:
    # list_discrepancies says in_force; a bare record (no corrections known) is in force.
    if record.get("in_force", record.get("superseded_by") is None):
        return f"{PASS_MARK} 有效 In force"
    if record.get("action") == "reverse":
        return "撤销记录 Reversal"
    return f"已更正 Superseded by #{record.get('superseded_by')}"


class _ReportFlow(_Flow):
    """sheets.py's flow, with this report's continuation header."""

    def new_page(self) -> None:
        self.pages.append(SheetPage(number=len(self.pages) + 1))
        self.y = TOP
        if len(self.pages) > 1:
            px = _px(BODY_PT)
            number = f"舱单号 Manifest no. {_note(self.record.get('manifest_no')) or EMPTY}"
            room = RIGHT - LEFT - _width(number, px) - _dots(5)
            self.text(_fit(f"{TITLE} (续 continued)", px, room), LEFT, self.y, px)
            self.text(number, RIGHT - _width(number, px), self.y, px)
            self.y += _line_height(px) + _dots(1)
            self.rule(LEFT, self.y, RIGHT, self.y + RULE - 1)
            self.y += _dots(4)


def _head(flow: _ReportFlow, report: dict) -> None:
    """Title, the grid of what and when, and the progress bar."""
    manifest, totals = report.get("manifest") or {}, report.get("totals") or {}
    tally = report.get("tally") or {}
    px = _px(TITLE_PT)
    for line, _ in _cell_lines(TITLE, px, RIGHT - LEFT):
        flow.text(line, (PAGE_W - _width(line, px)) // 2, flow.y, px, bold=True)
        flow.y += _line_height(px)
    flow.y += _dots(3)
    declared, counted = totals.get("declared", 0), totals.get("counted", 0)
    lines = (
        f"{totals.get('lines', 0)} 行 lines: {totals.get('match', 0)} 相符 match, "
        f"{totals.get('short', 0)} 短少 short, {totals.get('over', 0)} 溢余 over"
    )
    if report.get("balanced"):
        result = f"{PASS_MARK} 差异均已说明 Every difference explained"
    else:
        result = (
            f"{FAIL_MARK} {totals.get('unexplained_lines', 0)} 行差异未说明 "
            "line(s) with unexplained differences"
        )
    status = manifest.get("status")
    pairs = [
        ("舱单号 Manifest no.", _note(manifest.get("manifest_no")) or EMPTY),
        ("提运单号 Bill no.", _note(manifest.get("bill_no")) or EMPTY),
        ("状态 Status", MANIFEST_STATUS_NAMES.get(status, _note(status) or EMPTY)),
        ("生成时间 Generated at", format_time(report.get("generated_at"))),
        ("理货确认 Tally confirmed", format_time(tally.get("confirmed_at")) if tally else
         "未确认 Not confirmed"),
        ("确认人 Confirmed by", _note(tally.get("confirmed_by_name")) or EMPTY),
        ("行 Lines", lines),
        ("结论 Result", result),
    ]
    xs = _columns([32, 58, 32, 58])
    px = _px(BODY_PT)
    for left, right in zip(pairs[::2], pairs[1::2], strict=True):
        height, wrapped = _cells(xs, [left[0], left[1], right[0], right[1]], px)
        _place_row(flow, xs, wrapped, height, px)
    flow.y += _dots(4)

    # Progress: counted of declared, as a bar the eye reads before any number.
    share = progress(counted, declared)
    caption = (
        f"进度 Progress: 实点 counted {counted} / 申报 declared {declared}"
        f" ({round(share * 100)} %) · 差异 difference {signed(counted - declared)}"
    )
    flow.text(caption, LEFT, flow.y, px, bold=True)
    flow.y += _line_height(px) + _dots(1)
    bar_h = _dots(PROGRESS_BAR_MM)
    flow.frame(LEFT, flow.y, RIGHT, flow.y + bar_h)
    inner = _dots(0.8)
    filled = round((RIGHT - LEFT - 2 * inner) * share)
    if filled > 0:
        flow.rule(LEFT + inner, flow.y + inner, LEFT + inner + filled, flow.y + bar_h - inner)
    flow.y += bar_h + _dots(6)


def _signatures(flow: _ReportFlow) -> None:
    """Boxes the tally clerk and the warehouse supervisor sign by pen."""
    px = _px(BODY_PT)
    label_h, box_h = _line_height(px) + _dots(1), _dots(22)
    flow.ensure(label_h + box_h + _dots(2))
    half = (RIGHT - LEFT - _dots(8)) // 2
    for label, x0 in (
        ("理货员签字 Tally clerk", LEFT),
        ("仓库主管签字 Warehouse supervisor", LEFT + half + _dots(8)),
    ):
        flow.text(label, x0, flow.y, px)
        flow.frame(x0, flow.y + label_h, x0 + half, flow.y + label_h + box_h)
    flow.y += label_h + box_h + _dots(2)


def compose_reconciliation(report: dict) -> list[SheetPage]:
    """Lay out the report as pages of text and rules (``render_reconciliation_pdf``)."""
    manifest = report.get("manifest") or {}
    flow = _ReportFlow({"manifest_no": manifest.get("manifest_no")})
    _head(flow, report)

    totals = report.get("totals") or {}
    rows = [
        [
            str(line.get("line_no")),
            _note(line.get("sku")) or EMPTY,
            _note(line.get("name")) or EMPTY,
            str(line.get("declared", 0)),
            str(line.get("counted", 0)),
            signed(line.get("difference", 0)),
            _status_cell(line.get("status")),
            _line_discrepancies(line),
        ]
        for line in report.get("lines") or ()
    ]
    if rows:
        unexplained = totals.get("unexplained_lines", 0)
        rows.append(
            [
                "合计\nTotal",
                "",
                f"{totals.get('lines', len(rows))} 行 lines",
                str(totals.get("declared", 0)),
                str(totals.get("counted", 0)),
                signed(totals.get("difference", 0)),
                f"{PASS_MARK} 平衡 Balanced" if report.get("balanced")
                else f"{FAIL_MARK} {unexplained} 行未说明 unexplained",
                "",
            ]
        )
    _table(
        flow,
        "逐行对账 Declared vs counted, per manifest line",
        [10, 26, 44, 15, 15, 14, 22, 34],
        [
            "行\nLine",
            "料号\nSKU",
            "品名\nName",
            "申报\nDeclared",
            "实点\nCounted",
            "差异\nDiff.",
            "状态\nStatus",
            "差异记录\nDiscrepancies",
        ],
        rows,
        "无舱单行 The manifest has no lines",
    )

    records = report.get("records")
    if records is None:  # only the records in force were given: those of the lines
        records = [r for line in report.get("lines") or () for r in line.get("discrepancies") or ()]
        records += list(report.get("unassigned_discrepancies") or ())
        records.sort(key=lambda r: r.get("id") or 0)
    _table(
        flow,
        "差异记录 Discrepancy records (更正在内 corrections included)",
        [10, 10, 20, 10, 34, 28, 28, 18, 22],
        [
            "编号\nNo.",
            "行\nLine",
            "类型\nKind",
            "数量\nQty",
            "说明\nNote",
            "处置\nDisposition",
            "记录 Recorded\n时间 / 人 at / by",
            "操作\nAction",
            "有效\nIn force",
        ],
        [
            [
                f"#{record.get('id')}",
                EMPTY if record.get("line_no") is None else str(record["line_no"]),
                DISCREPANCY_KIND_NAMES.get(record.get("kind"), _note(record.get("kind"))),
                str(record.get("qty")),
                _note(record.get("note")) or EMPTY,
                _note(record.get("disposition")) or EMPTY,
                _recorded_cell(record),
                _correction_cell(record),
                _in_force_cell(record),
            ]
            for record in records
        ],
        "无差异记录 No discrepancies recorded",
    )
    _signatures(flow)

    # Footers last: the page count is only known now.
    px = _px(FOOTER_PT)
    y = PAGE_H - _dots(MARGIN_BOTTOM_MM) - _line_height(px)
    count = len(flow.pages)
    number = f"舱单号 Manifest no. {_note(manifest.get('manifest_no')) or EMPTY}"
    generated = f"生成 Generated {format_time(report.get('generated_at'))}"
    for page in flow.pages:
        page.rules.append(SheetRule((LEFT, y - _dots(1.5), RIGHT, y - _dots(1.5) + RULE // 2)))
        page.texts.append(SheetText(number, LEFT, y, px))
        folio = f"{page.number}/{count}"
        page.texts.append(SheetText(folio, (PAGE_W - _width(folio, px)) // 2, y, px))
        page.texts.append(SheetText(generated, RIGHT - _width(generated, px), y, px))
    return flow.pages


def render_reconciliation_pages(report: dict) -> list[Image.Image]:
    """The report's pages as mode "1" images at ``DPI``, exactly as the PDF shows them."""
    return [_paint(page) for page in compose_reconciliation(report)]


def render_reconciliation_pdf(report: dict) -> bytes:
    """Render the reconciliation report (理货对账单) as an A4 portrait PDF.

    ``report`` is ``tally.reconcile.load_reconciliation``'s answer (manifest, lines, totals,
    balanced, unassigned_discrepancies) plus, optionally::

        "generated_at": ISO str | datetime,
        "records": [every discrepancy record, corrections included: list_discrepancies rows],
        "tally": {"confirmed_at": ISO str, "confirmed_by_name": str} | None,

    The line table and the records run onto further pages with their headers repeated; every
    page carries the manifest number, "page/pages" and the generation time.
    """
    writer = _PdfWriter()
    page_w_pt, page_h_pt = (mm * PT_PER_INCH / MM_PER_INCH for mm in PAGE_MM)
    content = None  # every page is one full-page image: one content stream for all
    for image in render_reconciliation_pages(report):
        number = writer.image(image)
        if content is None:
            content = writer.content([(number, 0.0, 0.0, page_w_pt, page_h_pt)])
        writer.page(page_w_pt, page_h_pt, content, [number])
    return writer.finish()

