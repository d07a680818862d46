"""The tally reconciliation report (理货对账单) as a printable A4 PDF.

Laid out with the layout it shares with the inspection record sheet (``labels.sheet_layout``: its
flow of blocks onto pages, bordered tables whose headers repeat on every page, 1-bit painter), so
both sheets print with the same fonts, rules and margins. The bilingual names come from
``tally.names``, plain data shared with the pages and the exports.
"""

from datetime import datetime

from PIL import Image

from labels.pdf import PdfWriter
from labels.sheet_layout import (
    BODY_PT,
    EMPTY,
    FAIL_MARK,
    LEFT,
    PAGE_H_PT,
    PAGE_W_PT,
    PASS_MARK,
    RIGHT,
    Flow,
    SheetPage,
    dots,
    grid,
    line_height,
    note,
    paint,
    px,
    table,
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
    if not offset:
        return text + " UTC"
    zone = value.strftime("%z")  # the warehouse's zone: "+08:00", as the pages show it
    return f"{text} {zone[:3]}:{zone[3:]}"


def signed(number: int) -> str:
    """A difference with its sign: +1, -2, 0."""
    return f"{number:+d}" if number else "0"


def progress(counted: int, declared: int) -> float:
    """Counted of declared as a fraction, capped at 1 (over-landed goods do not overfill it)."""
    return min(counted / declared, 1.0) if declared > 0 else (1.0 if counted else 0.0)


def _status_cell(status: str) -> str:
    mark = PASS_MARK if status == "match" else FAIL_MARK  # ✘ lines print bold (cell_lines)
    return f"{mark} {LINE_STATUS_NAMES.get(status, status)}"


def _expiry_cell(lot: dict, warning_days) -> str:
    if lot.get("expired"):
        return f"{FAIL_MARK} 已过期 Expired"
    if lot.get("expiry_soon"):
        return f"{FAIL_MARK} {warning_days} 天内到期 within {warning_days} days"
    return EMPTY


def _record_text(record: dict) -> str:
    kind = DISCREPANCY_KIND_NAMES.get(record.get("kind"), note(record.get("kind")))
    text = f"{kind} {record.get('qty')}"
    disposition = note(record.get("disposition"))
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
    by = note(record.get("recorded_by"))
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


def _manifest_no(manifest_no) -> str:
    return f"舱单号 Manifest no. {note(manifest_no) or EMPTY}"


class _ReportFlow(Flow):
    """The shared flow; continuation pages are headed with the report's title and manifest."""

    def continuation_header(self) -> tuple[str, str]:
        return TITLE, _manifest_no(self.record.get("manifest_no"))


def _head(flow: _ReportFlow, report: dict) -> None:
    """Title, the grid of what and when, and the progress bar."""
    manifest, totals = report.get("manifest") or {}, report.get("totals") or {}
    tally = report.get("tally") or {}
    flow.place_title(TITLE)
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
        ("舱单号 Manifest no.", note(manifest.get("manifest_no")) or EMPTY),
        ("提运单号 Bill no.", note(manifest.get("bill_no")) or EMPTY),
        ("状态 Status", MANIFEST_STATUS_NAMES.get(status, note(status) or EMPTY)),
        ("生成时间 Generated at", format_time(report.get("generated_at"))),
        ("理货确认 Tally confirmed", format_time(tally.get("confirmed_at")) if tally else
         "未确认 Not confirmed"),
        ("确认人 Confirmed by", note(tally.get("confirmed_by_name")) or EMPTY),
        ("行 Lines", lines),
        ("结论 Result", result),
    ]
    grid(flow, [32, 58, 32, 58], pairs)
    flow.y += dots(4)

    # Progress: counted of declared, as a bar the eye reads before any number.
    share = progress(counted, declared)
    caption = (
        f"进度 Progress: 实点 counted {counted} / 申报 declared {declared}"
        f" ({round(share * 100)} %) · 差异 difference {signed(counted - declared)}"
    )
    size = px(BODY_PT)
    flow.text(caption, LEFT, flow.y, size, bold=True)
    flow.y += line_height(size) + dots(1)
    bar_h = dots(PROGRESS_BAR_MM)
    flow.frame(LEFT, flow.y, RIGHT, flow.y + bar_h)
    inner = dots(0.8)
    filled = round((RIGHT - LEFT - 2 * inner) * share)
    if filled > 0:
        flow.rule(LEFT + inner, flow.y + inner, LEFT + inner + filled, flow.y + bar_h - inner)
    flow.y += bar_h + dots(6)


def _signatures(flow: _ReportFlow) -> None:
    """Boxes the tally clerk and the warehouse supervisor sign by pen."""
    size = px(BODY_PT)
    label_h, box_h = line_height(size) + dots(1), dots(22)
    flow.ensure(label_h + box_h + dots(2))
    half = (RIGHT - LEFT - dots(8)) // 2
    for label, x0 in (
        ("理货员签字 Tally clerk", LEFT),
        ("仓库主管签字 Warehouse supervisor", LEFT + half + dots(8)),
    ):
        flow.text(label, x0, flow.y, size)
        flow.frame(x0, flow.y + label_h, x0 + half, flow.y + label_h + box_h)
    flow.y += label_h + box_h + dots(2)


def compose_reconciliation(report: dict) -> list[SheetPage]:
    """Lay out the report as pages of text and rules (``render_reconciliation_pdf``)."""
    manifest = report.get("manifest") or {}
    flow = _ReportFlow({"manifest_no": manifest.get("manifest_no")})
    _head(flow, report)

    totals = report.get("totals") or {}
    rows = [
        [
            str(line.get("line_no")),
            note(line.get("sku")) or EMPTY,
            note(line.get("name")) or EMPTY,
            str(line.get("declared", 0)),
            str(line.get("counted", 0)),
            signed(line.get("difference", 0)),
            _status_cell(line.get("shown", line.get("status"))),
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
    table(
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

    lots = [(line, lot) for line in report.get("lines") or () for lot in line.get("lots") or ()]
    if lots:  # cartons with GS1 batch and expiry were scanned
        table(
            flow,
            "批次效期 Lots: units counted per carton batch and expiry",
            [10, 26, 44, 26, 15, 35],
            ["行\nLine", "料号\nSKU", "批次\nBatch", "效期\nExpiry", "实点\nCounted",
             "临期\nExpiry warning"],
            [[str(line.get("line_no")), note(line.get("sku")) or EMPTY,
              note(lot.get("batch")) or EMPTY, lot.get("expiry") or EMPTY,
              str(lot.get("counted")), _expiry_cell(lot, report.get("expiry_warning_days"))]
             for line, lot in lots],
            "",
        )

    records = report.get("records")
    if records is None:  # only the records in force were given: those of the lines
        records = [r for line in report.get("lines") or () for r in line.get("discrepancies") or ()]
        records += list(report.get("unassigned_discrepancies") or ())
        records.sort(key=lambda r: r.get("id") or 0)
    table(
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
                DISCREPANCY_KIND_NAMES.get(record.get("kind"), note(record.get("kind"))),
                str(record.get("qty")),
                note(record.get("note")) or EMPTY,
                note(record.get("disposition")) or EMPTY,
                _recorded_cell(record),
                _correction_cell(record),
                _in_force_cell(record),
            ]
            for record in records
        ],
        "无差异记录 No discrepancies recorded",
    )
    _signatures(flow)

    generated = f"生成 Generated {format_time(report.get('generated_at'))}"
    flow.place_footers(_manifest_no(manifest.get("manifest_no")), generated)  # last: page count
    return flow.pages


def render_reconciliation_pages(report: dict) -> list[Image.Image]:
    """The report's pages as mode "1" images at ``DPI``, exactly as the PDF shows them."""
    return [paint(page) for page in compose_reconciliation(report)]


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
    writer = PdfWriter()
    content = None  # every page is one full-page image: one content stream for all
    for image in render_reconciliation_pages(report):
        number = writer.image(image)
        if content is None:
            content = writer.content([(number, 0.0, 0.0, PAGE_W_PT, PAGE_H_PT)])
        writer.page(PAGE_W_PT, PAGE_H_PT, content, [number])
    return writer.finish()

