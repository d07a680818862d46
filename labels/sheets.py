"""The inspection record sheet (查验记录单) as an A4 PDF, with the escort's signature image and,
in its head, the consignment's job barcode.

Pages are laid out once (``compose_record_sheet``) with the layout it shares with the
reconciliation report (``labels.sheet_layout``: page, fonts, flow, tables, 1-bit painter) and
then painted. The escort's signature goes on top of the 1-bit page as its own 8-bit grayscale
image, because thresholding a pen-pad signature breaks its thin anti-aliased strokes.
"""

import re
import zlib
from datetime import date, datetime

from PIL import Image

from labels.pdf import PdfWriter
from labels.render import render_job_image
from labels.sheet_layout import (
    BODY_PT,
    CELL_PT,
    CONTROL,
    DPI,
    EMPTY,
    FAIL_MARK,
    LEFT,
    PAGE_H,
    PAGE_H_PT,
    PAGE_W,
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
    width,
)

# The signature check lives in tally.signatures; its names stay importable from here too.
from tally.signatures import (  # noqa: F401
    PNG_SIGNATURE,
    SIGNATURE_MARGIN,
    SignatureError,
    flatten,
    load_signature,
)

TITLE = "查验记录单 Inspection record sheet"

MATERIALS = {
    "wood": "木质 Wood",
    "plastic": "塑料 Plastic",
    "metal": "金属 Metal",
    "paper": "纸质 Paper",
    "composite": "复合 Composite",
    "none": "无托盘 None",  # goods on the floor or in cartons only
}
DISPOSITIONS = {
    "pass": "放行 Pass",
    "fumigate": "熏蒸 Fumigate",
    "destroy": "销毁 Destroy",
    "return": "退运 Return",
}
RESULTS = {
    "passed": "通过 Passed",
    "pending": "待定 Pending",
    "failed": "未通过 Failed",
    "superseded": "已被取代 Superseded",  # a later inspection of the same manifest counts
}
CHECK_RESULTS = {"pass": f"{PASS_MARK} 合格 Pass", "fail": f"{FAIL_MARK} 不合格 Fail"}
CHECK_ASPECTS = (
    ("nature", "品名归类\nNature"),
    ("origin", "原产地\nOrigin"),
    ("condition", "状况\nCondition"),
    ("quantity", "数量\nQuantity"),
    ("value", "价值\nValue"),
)


# --- layout -----------------------------------------------------------------------------------


def _text(value) -> str:
    """A record value as printed: dates as ``YYYY-MM-DD HH:MM``, missing as a dash."""
    if value is None or value == "":
        return EMPTY
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value) if re.match(r"\d{4}-\d\d-\d\dT", value) else value
        except ValueError:
            return value
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="minutes")
    if isinstance(value, date):
        return value.isoformat()
    return CONTROL.sub(" ", str(value))


def _label(value, names: dict[str, str]) -> str:
    """A code shown bilingually when known ("fumigate" -> "熏蒸 Fumigate"), as given if not."""
    return names.get(value, _text(value)) if isinstance(value, str) else _text(value)


def _inspection_no(record: dict) -> str:
    return f"查验编号 Inspection no. {_text(record.get('inspection_no'))}"


class _RecordFlow(Flow):
    """The shared flow; continuation pages are headed with the sheet's title and number."""

    def continuation_header(self) -> tuple[str, str]:
        return note(self.record.get("title")) or TITLE, _inspection_no(self.record)


def _info(flow: Flow, record: dict) -> None:
    """The title (beside it the consignment's job barcode) and the grid of who, what, where
    and when."""
    title = note(record.get("title")) or TITLE
    job = note(record.get("job_code"))
    if job:
        # Scanning it on the scan page opens the consignment: the sheet travels with the goods.
        barcode = render_job_image(job, note(record.get("manifest_no")), dpi=DPI)
        top, x = flow.y, RIGHT - barcode.width
        flow.place_image(barcode, x, top)
        flow.place_title(title, right=x - dots(4))
        flow.y = max(flow.y, top + barcode.height + dots(3))
    else:
        flow.place_title(title)
    pairs = [
        ("舱单号 Manifest no.", record.get("manifest_no")),
        ("提运单号 Bill no.", record.get("bill_no")),
        ("查验编号 Inspection no.", record.get("inspection_no")),
        ("查验时间 Inspected at", record.get("inspected_at")),
        ("查验地点 Location", record.get("location")),
        ("查验结论 Result", _label(record.get("result"), RESULTS)),
        ("检疫官员 CIQ officer", record.get("ciq_officer")),
        ("海关关员 Customs officer", record.get("customs_officer")),
    ]
    grid(flow, [38, 52, 38, 52], [(label, _text(value)) for label, value in pairs])
    flow.y += dots(5)


def _mark_cell(pallet: dict) -> str:
    lines = []
    # The mark as transcribed, its stamped lines joined with " / " so rows stay short.
    raw = str(pallet.get("mark_text") or "")
    printed = " / ".join(note(part) for part in raw.splitlines() if note(part))
    if printed:
        lines.append(printed)
    mark = pallet.get("mark")
    if mark:
        parts = [mark.get("country"), mark.get("producer"), *(mark.get("treatments") or ())]
        if mark.get("debarked"):
            parts.append("DB")
        lines.append(f"{PASS_MARK} " + " · ".join(_text(part) for part in parts))
    lines += [f"{FAIL_MARK} {note(problem)}" for problem in pallet.get("mark_problems") or ()]
    return "\n".join(lines) or EMPTY


def _pests_cell(pallet: dict) -> str:
    detail = note(pallet.get("pest_note"))
    if pallet.get("pests_found"):
        return f"{FAIL_MARK} 发现 Found" + (f"\n{detail}" if detail else "")
    return "未发现 None" + (f"\n{detail}" if detail else "")


def _task_cell(task: dict | None) -> str:
    if not task:
        return EMPTY
    lines = [_label(task.get("kind"), DISPOSITIONS)]
    if task.get("done_at"):
        by = f" {note(task['done_by'])}" if task.get("done_by") else ""
        lines.append(f"已完成 Done {_text(task['done_at'])}{by}")
    else:
        lines.append("未完成 Open")
    if note(task.get("note")):
        lines.append(note(task.get("note")))
    return "\n".join(lines)


def _check_cell(check) -> str:
    if not check:
        return EMPTY
    text = CHECK_RESULTS.get(check.get("result"), _text(check.get("result")))
    detail = note(check.get("note"))
    return text + (f"\n{detail}" if detail else "")


def _signatures(flow: Flow, record: dict) -> None:
    """The escort's signature box (with the pad image) and two boxes officers sign by pen."""
    escort = record.get("escort") or {}
    body, small = px(BODY_PT), px(CELL_PT)
    box_h = dots(30)
    caption_h = 2 * line_height(small) + dots(1)
    result = f"查验结论 Result: {_label(record.get('result'), RESULTS)}"
    flow.ensure(flow.heading_height() + line_height(body) + dots(1) + box_h + caption_h)
    # The result again, from page 1: the signatures below attest to it.
    flow.place_heading(result)
    boxes = [
        ("押运人签字 Escort signature", LEFT, LEFT + dots(84)),
        ("检疫官员签字 CIQ officer", LEFT + dots(88), LEFT + dots(134)),
        ("海关关员签字 Customs officer", LEFT + dots(138), RIGHT),
    ]
    label_h = line_height(body) + dots(1)
    top = flow.y
    for label, x0, x1 in boxes:
        flow.text(label, x0, top, body)
        flow.frame(x0, top + label_h, x1, top + label_h + box_h)
    inner = dots(2)
    x0, x1 = boxes[0][1], boxes[0][2]
    box = (x0 + inner, top + label_h + inner, x1 - inner, top + label_h + box_h - inner)
    signature = escort.get("signature")
    if signature is not None:
        if not isinstance(signature, Image.Image):
            raise TypeError("escort signature must be a PIL image (see load_signature) or None")
        image = flatten(signature)
        scale = min((box[2] - box[0]) / image.width, (box[3] - box[1]) / image.height)
        scaled = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        left = box[0] + (box[2] - box[0] - scaled[0]) // 2
        upper = box[1] + (box[3] - box[1] - scaled[1]) // 2
        flow.page.signature = image.resize(scaled, Image.Resampling.LANCZOS)
        flow.page.signature_box = (left, upper, left + scaled[0], upper + scaled[1])
    else:
        unsigned = "未签字 Not signed"
        flow.text(
            unsigned,
            (box[0] + box[2] - width(unsigned, small)) // 2,
            (box[1] + box[3] - line_height(small)) // 2,
            small,
        )
    y = top + label_h + box_h + dots(1)
    flow.text(f"押运人 Escort: {_text(escort.get('name'))}", x0, y, small)
    flow.text(
        f"签字时间 Signed at: {_text(escort.get('signed_at'))}", x0, y + line_height(small), small
    )
    flow.y = y + caption_h


def compose_record_sheet(record: dict) -> list[SheetPage]:
    """Lay out the sheet as pages of text, rules and the signature (``render_record_sheet``)."""
    flow = _RecordFlow(record)
    _info(flow, record)

    pallets = record.get("pallets") or []
    table(
        flow,
        "托盘 Pallets · 木质包装 IPPC / ISPM 15",
        [20, 18, 52, 24, 22, 44],
        [
            "托盘号\nPallet",
            "材质\nMaterial",
            "IPPC 标识\nIPPC mark",
            "有害生物\nPests",
            "处置\nDisposition",
            "处置任务\nTreatment task",
        ],
        [
            [
                _text(pallet.get("pallet_no")),
                _label(pallet.get("material"), MATERIALS),
                _mark_cell(pallet),
                _pests_cell(pallet),
                _label(pallet.get("disposition"), DISPOSITIONS),
                _task_cell(pallet.get("task")),
            ]
            for pallet in pallets
        ],
        "无托盘记录 No pallets recorded",
    )

    checks = record.get("checks") or []
    table(
        flow,
        "海关查验 Customs checks",
        [10, 40] + [26] * len(CHECK_ASPECTS),
        ["行\nLine", "SKU / 品名 Name"] + [heading for _, heading in CHECK_ASPECTS],
        [
            [
                _text(check.get("line_no")),
                f"{_text(check.get('sku'))}\n{_text(check.get('name'))}",
                *(_check_cell(check.get(aspect)) for aspect, _ in CHECK_ASPECTS),
            ]
            for check in checks
        ],
        "无查验行 No lines checked",
    )
    _signatures(flow, record)

    flow.place_footers(_inspection_no(record))  # last: it needs the page count
    return flow.pages


# --- pages and PDF ----------------------------------------------------------------------------


def render_record_sheet_pages(record: dict) -> list[Image.Image]:
    """The record sheet's pages as mode "L" images at ``DPI``, exactly as the PDF shows them."""
    pages = []
    for page in compose_record_sheet(record):
        image = paint(page).convert("L")
        if page.signature is not None:
            image.paste(page.signature, page.signature_box[:2])
        pages.append(image)
    return pages


class _SheetPdf(PdfWriter):
    """labels/pdf.py's PDF writer plus 8-bit grayscale images, for the signature."""

    def gray_image(self, image: Image.Image) -> int:
        data = zlib.compress(image.tobytes(), 6)
        header = (
            b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray"
            b" /BitsPerComponent 8 /Filter /FlateDecode /Length %d >>"
        )
        return self._object(header % (image.width, image.height, len(data)), data)


def render_record_sheet(record: dict) -> bytes:
    """Render the inspection record sheet (查验记录单) as an A4 portrait PDF.

    ``record`` (the caller maps database rows to it; missing values print as "—")::

        {
          "title": "查验记录单 Inspection record sheet",     # optional
          "job_code": str,                                # optional: the job barcode's code
          "manifest_no": str, "bill_no": str, "inspection_no": str,
          "inspected_at": datetime | ISO str, "location": str,
          "ciq_officer": str, "customs_officer": str,
          "result": "passed" | "pending" | "failed" | "superseded",
          "pallets": [{
              "pallet_no": str,
              "material": "wood" | "plastic" | "metal" | "paper" | "none" | other str,
              "mark_text": str | None,                      # as transcribed, may hold newlines
              "mark": {"country", "producer", "treatments": [str], "debarked": bool} | None,
              "mark_problems": [str],                       # MarkError.problems
              "pests_found": bool, "pest_note": str | None,
              "disposition": "pass" | "fumigate" | "destroy" | "return",
              "task": {"kind": str, "done_at": datetime | str | None,
                       "done_by": str | None, "note": str | None} | None,
          }],
          "checks": [{
              "line_no": int, "sku": str, "name": str,
              # each aspect: {"result": "pass" | "fail", "note": str | None} or None (unchecked)
              "nature": {...}, "origin": {...}, "condition": {...},
              "quantity": {...}, "value": {...},
          }],
          "escort": {"name": str, "signed_at": datetime | str,
                     "signature": PIL image (from load_signature) | None},
        }

    Tables run onto further pages as needed, repeating their headers; every page carries the
    inspection number and "page/pages".
    """
    writer = _SheetPdf()
    # The page image is whole dots, a fraction of a dot off A4: scale each axis on its own.
    x_pt, y_pt = PAGE_W_PT / PAGE_W, PAGE_H_PT / PAGE_H
    for page in compose_record_sheet(record):
        images = [writer.image(paint(page))]
        placements = [(images[0], 0.0, 0.0, PAGE_W_PT, PAGE_H_PT)]
        if page.signature is not None:
            left, upper, right, lower = page.signature_box
            images.append(writer.gray_image(page.signature))
            placements.append(
                (
                    images[1],
                    left * x_pt,
                    PAGE_H_PT - lower * y_pt,  # PDF's origin is bottom left
                    (right - left) * x_pt,
                    (lower - upper) * y_pt,
                )
            )
        writer.page(PAGE_W_PT, PAGE_H_PT, writer.content(placements), images)
    return writer.finish()
