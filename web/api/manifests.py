"""Manifests, reconciliation, discrepancies, tally confirmation, sync log and audit events."""

import csv
import io
from datetime import datetime

import xlsxwriter
from flask import Response, current_app, g

from labels.report_sheet import render_reconciliation_pdf
from tally import confirmation, manifests, outbox, reconcile, workbooks
from tally.catalogue import say
from tally.config import expiry_check, site_settings, time_zone
from tally.db import now
from tally.errors import PayloadTooLarge, ValidationError
from tally.events import list_events
from tally.names import (
    CORRECTION_ACTION_NAMES,
    DISCREPANCY_KIND_NAMES,
    LINE_STATUS_NAMES,
    MANIFEST_STATUS_NAMES,
)
from tally.users import get_user, has_role
from web.api import api_blueprint, arg, int_arg, json_body, uploaded_table
from web.auth import requires, user_id
from web.customs import customs_transport
from web.db import get_db
from web.downloads import (
    SAFE_WORKBOOK,
    download_headers,
    plain_text,
    spreadsheet_row,
    write_text,
)

bp = api_blueprint("manifests")


@bp.post("/manifests")
@requires("supervisor")
def create():
    manifest = uploaded_table(manifests.parse_csv, workbooks.parse_xlsx)
    return manifests.import_manifest(get_db(), manifest, user_id=user_id()), 201


@bp.get("/manifests")
def index():
    return {"manifests": manifests.list_manifests(get_db())}


@bp.get("/manifests/<int:manifest_id>")
def show(manifest_id):
    db = get_db()
    manifest = manifests.get_manifest(db, manifest_id)
    manifest["tally"] = confirmation.get_confirmed(db, manifest_id)
    return manifest


# Lines a reconciliation PDF may hold: it is laid out whole in memory, which grows with its
# lines (README, "Limits"); the workbook and the CSV are not bounded this way.
MAX_PDF_LINES = 2_000


@bp.get("/manifests/<int:manifest_id>/reconciliation")
def reconciliation(manifest_id):
    db = get_db()
    report = reconcile.load_reconciliation(db, manifest_id, expiry=expiry_check(current_app.config))
    kind = arg("format", "json")
    if kind == "csv":
        return _reconciliation_csv(report)
    if kind == "xlsx":
        return _reconciliation_xlsx(_export_report(db, manifest_id, report))
    if kind == "pdf":
        if len(report["lines"]) > MAX_PDF_LINES:  # a PDF is built whole in memory
            raise PayloadTooLarge(
                say("pdf_too_many_lines", limit=MAX_PDF_LINES, count=len(report["lines"])),
                [{"field": "format", "message": say("too_many_lines_for_pdf")}])
        pdf = render_reconciliation_pdf(_pdf_times(_export_report(db, manifest_id, report)))
        filename = f"reconciliation-{report['manifest']['manifest_no']}.pdf"
        return Response(pdf, mimetype="application/pdf",
                        headers=download_headers(filename, inline=True))
    if kind != "json":
        raise ValidationError(
            say("format_unknown"),
            [{"field": "format", "message": say("format_unknown_item", format=kind)}],
        )
    return report


def _export_report(db, manifest_id: int, report: dict) -> dict:
    """The reconciliation plus what a printed or saved copy needs: every discrepancy record
    (corrections included), the confirmed tally, and when it was generated."""
    tally = confirmation.get_confirmed(db, manifest_id)
    if tally is not None:
        by = get_user(db, tally["confirmed_by"]) if tally["confirmed_by"] else None
        tally = {"confirmed_at": tally["confirmed_at"], "confirmed_by_name": by and by["name"]}
    return {
        **report,
        "records": reconcile.list_discrepancies(db, manifest_id),
        "tally": tally,
        "generated_at": now(),
    }


def _local(value: str | None) -> datetime | None:
    """A stored time (ISO 8601 UTC) in the warehouse's zone, as a naive datetime: Excel has no
    time zones, so the column headings name the zone (_zone_label)."""
    if not value:
        return None
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment.astimezone(time_zone(current_app.config)).replace(tzinfo=None)


def _zone_label() -> str:
    """The warehouse's zone as a heading says it: ``UTC+08:00 Asia/Shanghai``."""
    zone = time_zone(current_app.config)
    offset = datetime.now(zone).strftime("%z")
    return f"UTC{offset[:3]}:{offset[3:]} {zone.key}"


def _pdf_times(report: dict) -> dict:
    """The export report with its times in the warehouse's zone (the PDF prints the offset)."""
    zone = time_zone(current_app.config)

    def local(value):
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(zone) \
            if isinstance(value, str) and value else value

    tally = report.get("tally")
    return {**report, "generated_at": local(report["generated_at"]),
            "tally": tally and {**tally, "confirmed_at": local(tally["confirmed_at"])},
            "records": [{**r, "created_at": local(r["created_at"])} for r in report["records"]]}


def _reconciliation_xlsx(report: dict) -> Response:
    """The reconciliation as a workbook: the line table and, on a second sheet, every record."""
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True, **SAFE_WORKBOOK})
    manifest, totals, tally = report["manifest"], report["totals"], report["tally"]
    book.set_properties(
        {"title": f"理货对账单 Tally reconciliation {plain_text(manifest['manifest_no'])}",
         "comments": "bonded-tally"}
    )
    fmt = book.add_format
    title = fmt({"bold": True, "font_size": 14})
    key = fmt({"bold": True})
    when = fmt({"num_format": "yyyy-mm-dd hh:mm", "align": "left"})
    cell = {"border": 1, "valign": "top"}
    total = {"bold": True, "top": 6, "bottom": 1, "left": 1, "right": 1}  # double rule above
    head = fmt({**cell, "bold": True, "bg_color": "#D9E1F2", "text_wrap": True})
    text = fmt({**cell, "text_wrap": True})
    number = fmt({**cell, "num_format": "#,##0"})
    signed = fmt({**cell, "num_format": "+#,##0;-#,##0;0"})
    stamp = fmt({**cell, "num_format": "yyyy-mm-dd hh:mm"})
    status_fmt = {
        "match": fmt({**cell, "bg_color": "#E2EFDA", "font_color": "#0A5A24"}),
        "short": fmt({**cell, "bg_color": "#FDE7EA", "font_color": "#B00020"}),
        "over": fmt({**cell, "bg_color": "#FFF2CC", "font_color": "#8A4600"}),
    }
    total_text = fmt(total)
    total_number = fmt({**total, "num_format": "#,##0"})
    total_signed = fmt({**total, "num_format": "+#,##0;-#,##0;0"})

    sheet = book.add_worksheet("Reconciliation")
    sheet.write(0, 0, "理货对账单 Tally reconciliation report", title)
    status = manifest.get("status")
    block = [
        ("舱单号 Manifest no.", manifest["manifest_no"]),
        ("提运单号 Bill no.", manifest.get("bill_no") or ""),
        ("状态 Status", MANIFEST_STATUS_NAMES.get(status, status)),
        (f"生成时间 Generated at ({_zone_label()})", _local(report["generated_at"])),
        (f"理货确认 Tally confirmed ({_zone_label()})",
         _local(tally["confirmed_at"]) if tally else "未确认 No"),
        ("确认人 Confirmed by", (tally or {}).get("confirmed_by_name") or ""),
        ("结论 Result", "差异均已说明 Balanced" if report["balanced"]
         else f"{totals['unexplained_lines']} 行差异未说明 line(s) unexplained"),
    ]
    for row, (label, value) in enumerate(block, start=2):
        sheet.merge_range(row, 0, row, 1, label, key)  # over the narrow line and SKU columns
        if isinstance(value, datetime):
            sheet.write_datetime(row, 2, value, when)
        else:  # manifest_no, bill_no, a user's name: user text, stored as a string
            write_text(sheet, row, 2, value)

    top = 2 + len(block) + 1
    headers = ["行 Line", "料号 SKU", "品名 Name", "申报 Declared", "实点 Counted",
               "差异 Difference", "状态 Status", "已说明 Explained", "未说明 Unexplained",
               "差异记录 Discrepancies", "批次效期 Lots (batch, expiry, units)"]
    sheet.write_row(top, 0, headers, head)
    for i, line in enumerate(report["lines"], start=top + 1):
        notes = "; ".join(
            f"{DISCREPANCY_KIND_NAMES.get(d['kind'], d['kind'])} {d['qty']}"
            + (f" · {d['disposition']}" if d["disposition"] else "")
            + (f" ({d['note']})" if d["note"] else "")
            for d in line["discrepancies"]
        )
        sheet.write_number(i, 0, line["line_no"], number)
        sheet.write_string(i, 1, line["sku"] or "", text)
        sheet.write_string(i, 2, line["name"] or "", text)
        sheet.write_number(i, 3, line["declared"], number)
        sheet.write_number(i, 4, line["counted"], number)
        sheet.write_number(i, 5, line["difference"], signed)
        sheet.write_string(i, 6, LINE_STATUS_NAMES.get(line["shown"], line["shown"]),
                           status_fmt.get(line["shown"], text))
        sheet.write_number(i, 7, line["explained"], signed)
        sheet.write_number(i, 8, line["unexplained"], signed)
        for column, value in ((9, notes), (10, reconcile.describe_lots(line["lots"]))):
            if value:
                sheet.write_string(i, column, value, text)
            else:
                sheet.write_blank(i, column, None, text)
    first, last = top + 2, top + 1 + len(report["lines"])  # 1-based rows for the formulas
    end = top + 1 + len(report["lines"])
    sheet.write(end, 0, "合计 Total", total_text)
    sheet.write(end, 1, "", total_text)
    sheet.write(end, 2, f"{totals['lines']} 行 lines", total_text)
    for column, letter, value, style in (
        (3, "D", totals["declared"], total_number),
        (4, "E", totals["counted"], total_number),
        (5, "F", totals["difference"], total_signed),
    ):
        formula = f"=SUM({letter}{first}:{letter}{last})" if report["lines"] else "=0"
        sheet.write_formula(end, column, formula, style, value)
    sheet.write(end, 6, "平衡 Balanced" if report["balanced"] else "未平衡 Unexplained",
                total_text)
    sheet.write(end, 7, "", total_text)
    sheet.write_number(end, 8, totals["unexplained_lines"], total_number)
    sheet.write(end, 9, "未说明行数 lines unexplained", total_text)
    sheet.write(end, 10, f"临期 {totals['expiry_soon']} 件 units expiring within"
                         f" {report['expiry_warning_days']} days", total_text)
    sheet.set_column(0, 0, 11)
    sheet.set_column(1, 1, 18)
    sheet.set_column(2, 2, 30)
    sheet.set_column(3, 8, 12)
    sheet.set_column(9, 10, 48)
    sheet.freeze_panes(top + 1, 0)
    sheet.autofilter(top, 0, max(top, end - 1), len(headers) - 1)
    sheet.repeat_rows(top)
    sheet.set_landscape()
    sheet.set_paper(9)  # A4
    sheet.fit_to_pages(1, 0)

    records = book.add_worksheet("Discrepancies")
    record_headers = ["编号 No.", "行 Line", "类型 Kind", "数量 Qty", "说明 Note",
                      "处置 Disposition", "操作 Action", "更正 Corrects no.",
                      "被更正 Superseded by", "有效 In force",
                      f"记录时间 Recorded at ({_zone_label()})", "记录人 Recorded by"]
    records.write_row(0, 0, record_headers, head)
    for i, record in enumerate(report["records"], start=1):
        records.write_number(i, 0, record["id"], number)
        if record["line_no"] is None:
            records.write_string(i, 1, "—", text)
        else:
            records.write_number(i, 1, record["line_no"], number)
        records.write_string(i, 2, DISCREPANCY_KIND_NAMES.get(record["kind"], record["kind"]), text)
        records.write_number(i, 3, record["qty"], number)
        records.write_string(i, 4, record["note"] or "", text)
        records.write_string(i, 5, record["disposition"] or "", text)
        action = CORRECTION_ACTION_NAMES.get(record["action"], record["action"])
        records.write_string(i, 6, action, text)
        for column, value in ((7, record["supersedes_id"]), (8, record["superseded_by"])):
            if value is None:
                records.write_blank(i, column, None, text)
            else:
                records.write_number(i, column, value, number)
        records.write_string(i, 9, "是 Yes" if record["in_force"] else "否 No", text)
        records.write_datetime(i, 10, _local(record["created_at"]), stamp)
        records.write_string(i, 11, record["recorded_by"] or "", text)
    records.set_column(0, 3, 10)
    records.set_column(4, 5, 30)
    records.set_column(6, 9, 14)
    records.set_column(10, 11, 20)
    records.freeze_panes(1, 0)
    records.set_landscape()
    records.set_paper(9)
    records.fit_to_pages(1, 0)
    _lots_sheet(book, report, head, text, number)
    book.close()
    filename = f"reconciliation-{manifest['manifest_no']}.xlsx"
    return Response(
        out.getvalue(),
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers=download_headers(filename),
    )


def _lots_sheet(book, report: dict, head, text, number) -> None:
    """Units counted per line and carton lot, one row each, the expiry as a real date."""
    sheet = book.add_worksheet("Lots")
    day = book.add_format({"border": 1, "valign": "top", "num_format": "yyyy-mm-dd"})
    soon = book.add_format({"border": 1, "valign": "top", "bg_color": "#FFF2CC",
                            "font_color": "#8A4600"})
    sheet.write_row(0, 0, ["行 Line", "料号 SKU", "批次 Batch", "效期 Expiry",
                           "实点 Counted", f"临期 Within {report['expiry_warning_days']} days"],
                    head)
    row = 1
    for line in report["lines"]:
        for lot in line["lots"]:
            sheet.write_number(row, 0, line["line_no"], number)
            sheet.write_string(row, 1, line["sku"] or "", text)
            write_text(sheet, row, 2, lot["batch"] or "")
            if lot["expiry"]:
                sheet.write_datetime(row, 3, datetime.fromisoformat(lot["expiry"]), day)
            else:
                sheet.write_blank(row, 3, None, text)
            sheet.write_number(row, 4, lot["counted"], number)
            flag = ("已过期 expired" if lot["expired"]
                    else "临期 soon" if lot["expiry_soon"] else "")
            sheet.write_string(row, 5, flag, soon if flag else text)
            row += 1
    sheet.set_column(0, 5, 16)
    sheet.freeze_panes(1, 0)


def _reconciliation_csv(report: dict) -> Response:
    out = io.StringIO()
    writer = csv.writer(out)

    def write(cells: list) -> None:  # text that could start a formula gets a leading '
        writer.writerow(spreadsheet_row(cells))

    write(
        [
            "line_no",
            "sku",
            "name",
            "declared",
            "counted",
            "difference",
            "status",
            "explained",
            "unexplained",
            "discrepancies",
            "lots",
            "units_expiring_soon",
        ]
    )
    for line in report["lines"]:
        notes = "; ".join(
            f"{d['kind']} {d['qty']}" + (f" ({d['note']})" if d["note"] else "")
            for d in line["discrepancies"]
        )
        write(
            [
                line["line_no"],
                line["sku"],
                line["name"],
                line["declared"],
                line["counted"],
                line["difference"],
                line["shown"],
                line["explained"],
                line["unexplained"],
                notes,
                reconcile.describe_lots(line["lots"]),
                sum(lot["counted"] for lot in line["lots"] if lot["expiry_soon"]),
            ]
        )
    totals = report["totals"]
    write(
        [
            "total",
            "",
            "",
            totals["declared"],
            totals["counted"],
            totals["difference"],
            "balanced" if report["balanced"] else "unexplained",
            "",
            "",
            "",
        ]
    )
    filename = f"reconciliation-{report['manifest']['manifest_no']}.csv"
    # The BOM makes Excel open the Chinese product names as UTF-8.
    return Response(
        "\ufeff" + out.getvalue(),
        mimetype="text/csv",
        headers=download_headers(filename),
    )


@bp.get("/manifests/<int:manifest_id>/discrepancies")
def discrepancies(manifest_id):
    manifests.load_head(get_db(), manifest_id)
    return {"discrepancies": reconcile.list_discrepancies(get_db(), manifest_id)}


@bp.post("/manifests/<int:manifest_id>/discrepancies")
@requires("operator")
def record_discrepancy(manifest_id):
    record = reconcile.record_discrepancy(
        get_db(),
        manifest_id,
        json_body(),
        user_id=user_id(),
        may_correct=has_role(g.user, "supervisor"),
    )
    return record, 201


@bp.post("/manifests/<int:manifest_id>/tally/confirm")
@requires("supervisor")
def confirm(manifest_id):
    return confirmation.confirm_tally(
        get_db(), manifest_id, user_id=user_id(), settings=site_settings(current_app.config)
    )


@bp.get("/manifests/<int:manifest_id>/sync")
def sync_log(manifest_id):
    manifests.load_head(get_db(), manifest_id)
    return outbox.sync_status(get_db(), manifest_id)


@bp.post("/manifests/<int:manifest_id>/sync")
@requires("supervisor")
def sync_now(manifest_id):
    """Data synchronization: pull every new customs receipt now; answer this manifest's log."""
    db = get_db()
    manifests.load_head(db, manifest_id)
    new = outbox.pull_receipts(db, customs_transport(), manifest_id)
    return {**outbox.sync_status(db, manifest_id), "new_receipts": new}


@bp.post("/outbox/<int:message_id>/resend")
@requires("supervisor")
def resend_message(message_id):
    """Send a customs message that was not sent again, as its next version."""
    return outbox.resend(get_db(), message_id, user_id=user_id()), 201


@bp.get("/manifests/<int:manifest_id>/events")
def events(manifest_id):
    manifests.load_head(get_db(), manifest_id)
    return {"events": list_events(get_db(), manifest_id, after_id=int_arg("after") or 0)}
