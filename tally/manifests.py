"""Manifests (舱单): parse and validate a CSV or JSON manifest, import it, read it back.

Validation reports every bad row and column at once, and nothing is stored unless all is well.
"""

import csv
import io
import re
from decimal import Decimal, InvalidOperation

from sqlite_utils import Database

from tally import workflow
from tally.db import now, write
from tally.errors import ConflictError, NotFoundError, ValidationError
from tally.events import record_event

REQUIRED = ("manifest_no", "line_no", "sku", "name", "declared_qty")
OPTIONAL = (
    "bill_no",
    "gtin",
    "hs_code",
    "origin_country",
    "unit",
    "unit_value",
    "currency",
    "gross_weight_kg",
    "net_weight_kg",
)
LINE_FIELDS = ("line_no", "sku", "name", "declared_qty") + OPTIONAL
MAX_LINES = 100_000
MAX_QTY = 10_000_000

_TEXT_LIMITS = {"manifest_no": 64, "sku": 64, "name": 200, "bill_no": 64, "unit": 16}
_PATTERNS = {
    # gdecd: the HS code is 10 digits in China; manifests often carry 6 or 8.
    "hs_code": (re.compile(r"^\d{6}(\d{2}){0,2}$"), "6, 8 or 10 digits"),
    # ISO 3166 alpha-2/alpha-3, or the 3-digit customs country code (natcd).
    "origin_country": (re.compile(r"^([A-Z]{2,3}|\d{3})$"), "an ISO country code or 3-digit code"),
    # ISO 4217, or the 3-digit customs currency code (dclCurrcd, e.g. 142 CNY).
    "currency": (re.compile(r"^([A-Z]{3}|\d{3})$"), "a 3-letter or 3-digit currency code"),
}


def parse_csv(data: bytes) -> dict:
    """Turn CSV bytes into ``{"manifest_no", "bill_no", "lines": [...]}`` of raw strings.

    Accepts UTF-8 (with or without the BOM Excel writes) and GB18030 (Chinese Excel exports).
    Header names are matched case-insensitively; unknown columns are an error, not ignored,
    so a misspelt ``declard_qty`` is caught rather than silently dropped.
    """
    if not data or not data.strip():
        raise ValidationError("the manifest is empty", [{"message": "no header row and no lines"}])
    text = _decode_text(data)
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise ValidationError(f"the CSV cannot be read: {exc}") from None
    header = [h.strip().lower() for h in rows[0]]
    errors = []
    unknown = [h for h in header if h not in REQUIRED + OPTIONAL]
    errors += [{"column": h or "(blank)", "message": "unknown column"} for h in unknown]
    errors += [
        {"column": c, "message": "required column is missing"} for c in REQUIRED if c not in header
    ]
    dupes = sorted({h for h in header if header.count(h) > 1})
    errors += [{"column": h, "message": "column appears more than once"} for h in dupes]
    if errors:
        raise ValidationError("the CSV header is wrong", errors)
    lines = []
    for row_no, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue  # blank lines (often at the end of Excel exports)
        if len(row) != len(header):
            errors.append(
                {"row": row_no, "message": f"has {len(row)} fields, the header has {len(header)}"}
            )
            continue
        cells = {h: cell.strip() for h, cell in zip(header, row, strict=True)}
        lines.append({"row": row_no, **cells})
    if errors:
        raise ValidationError("the CSV has malformed rows", errors)
    if not lines:
        raise ValidationError("the manifest has no lines", [{"message": "header only"}])
    manifest_nos = {line["manifest_no"] for line in lines}
    if len(manifest_nos) > 1:
        raise ValidationError(
            "all rows must share one manifest_no",
            [
                {
                    "row": line["row"],
                    "column": "manifest_no",
                    "message": f"{line['manifest_no']!r} differs from {lines[0]['manifest_no']!r}",
                }
                for line in lines
                if line["manifest_no"] != lines[0]["manifest_no"]
            ],
        )
    bills = {line.get("bill_no") for line in lines} - {None, ""}
    return {
        "manifest_no": lines[0]["manifest_no"],
        "bill_no": bills.pop() if len(bills) == 1 else None,
        "lines": lines,
    }


def _decode_text(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" not in text:
            return text
    raise ValidationError("the manifest is not text (expected UTF-8 or GB18030 CSV)")


def validate(manifest: object) -> dict:
    """Check a parsed or JSON manifest; return it normalised, or raise with every problem."""
    if not isinstance(manifest, dict):
        raise ValidationError("the manifest must be a JSON object with manifest_no and lines")
    errors = []
    head = {
        "manifest_no": _text(
            manifest.get("manifest_no"), "manifest_no", None, errors, required=True
        ),
        "bill_no": _text(manifest.get("bill_no"), "bill_no", None, errors),
    }
    raw_lines = manifest.get("lines")
    if not isinstance(raw_lines, list) or not raw_lines:
        errors.append({"field": "lines", "message": "a non-empty list of lines is required"})
        raise ValidationError("the manifest is invalid", errors)
    if len(raw_lines) > MAX_LINES:
        raise ValidationError(f"a manifest has at most {MAX_LINES} lines")
    lines, seen = [], {}
    for index, raw in enumerate(raw_lines, start=1):
        if not isinstance(raw, dict):
            errors.append({"row": index, "message": "a line must be an object"})
            continue
        row = raw.get("row", index)
        unknown = set(raw) - set(LINE_FIELDS) - {"row", "manifest_no"}
        errors += [{"row": row, "field": k, "message": "unknown field"} for k in sorted(unknown)]
        line = _validate_line(raw, row, errors)
        if line.get("line_no") is not None:
            if line["line_no"] in seen:
                errors.append(
                    {
                        "row": row,
                        "field": "line_no",
                        "message": f"line {line['line_no']} already appears in row "
                        f"{seen[line['line_no']]}",
                    }
                )
            seen.setdefault(line["line_no"], row)
        lines.append(line)
    if errors:
        raise ValidationError(
            f"the manifest has {len(errors)} error(s); nothing was stored", errors
        )
    return {**head, "lines": lines}


def _validate_line(raw: dict, row: int, errors: list) -> dict:
    line = {
        "line_no": _integer(raw.get("line_no"), "line_no", row, errors, minimum=1),
        "sku": _text(raw.get("sku"), "sku", row, errors, required=True),
        "name": _text(raw.get("name"), "name", row, errors, required=True),
        "declared_qty": _integer(raw.get("declared_qty"), "declared_qty", row, errors, minimum=1),
        "bill_no": _text(raw.get("bill_no"), "bill_no", row, errors),
        "unit": _text(raw.get("unit"), "unit", row, errors),
        "gtin": _gtin(raw.get("gtin"), row, errors),
    }
    for field, (pattern, expected) in _PATTERNS.items():
        value = _text(raw.get(field), field, row, errors)
        value = value.upper() if value else value
        if value and not pattern.match(value):
            errors.append(
                {"row": row, "field": field, "message": f"expected {expected}, got {value!r}"}
            )
        line[field] = value
    for field in ("unit_value", "gross_weight_kg", "net_weight_kg"):
        line[field] = _decimal(raw.get(field), field, row, errors)
    return line


def _where(row, field) -> dict:
    return {"field": field} if row is None else {"row": row, "field": field}


def _text(value, field, row, errors, *, required=False):
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            errors.append({**_where(row, field), "message": "required"})
        return None
    if not isinstance(value, str | int) or isinstance(value, bool):
        errors.append({**_where(row, field), "message": "must be text"})
        return None
    value = str(value).strip()
    limit = _TEXT_LIMITS.get(field, 64)
    if len(value) > limit:
        errors.append({**_where(row, field), "message": f"longer than {limit} characters"})
    return value


def _integer(value, field, row, errors, *, minimum):
    if value is None or value == "":
        errors.append({**_where(row, field), "message": "required"})
        return None
    if isinstance(value, bool) or not isinstance(value, int | str | float):
        errors.append({**_where(row, field), "message": "must be a whole number"})
        return None
    text = str(value).strip()
    if isinstance(value, float):
        if not value.is_integer():
            errors.append({**_where(row, field), "message": f"must be a whole number, got {value}"})
            return None
        text = str(int(value))
    if not re.fullmatch(r"[+-]?\d+", text):
        errors.append({**_where(row, field), "message": f"must be a whole number, got {text!r}"})
        return None
    number = int(text)
    if number < minimum:
        errors.append(
            {**_where(row, field), "message": f"must be at least {minimum}, got {number}"}
        )
        return None
    if number > MAX_QTY:
        errors.append({**_where(row, field), "message": f"must be at most {MAX_QTY}"})
        return None
    return number


def _decimal(value, field, row, errors):
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | str | float):
        errors.append({**_where(row, field), "message": "must be a number"})
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        errors.append({**_where(row, field), "message": f"must be a number, got {value!r}"})
        return None
    if not number.is_finite() or number < 0:
        errors.append({**_where(row, field), "message": f"must be zero or more, got {value!r}"})
        return None
    if number.as_tuple().exponent < -5:
        errors.append({**_where(row, field), "message": "at most 5 decimal places"})
        return None
    return str(number)


def _gtin(value, row, errors):
    value = _text(value, "gtin", row, errors)
    if value is None:
        return None
    if not re.fullmatch(r"\d{8}|\d{12,14}", value):
        errors.append({"row": row, "field": "gtin", "message": "a GTIN has 8, 12, 13 or 14 digits"})
    elif not _gs1_check_ok(value):
        errors.append(
            {"row": row, "field": "gtin", "message": f"GTIN check digit is wrong: {value}"}
        )
    return value


def _gs1_check_ok(digits: str) -> bool:
    body, check = digits[:-1], int(digits[-1])
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10 == check


def import_manifest(db: Database, manifest: dict, *, user_id: int | None) -> dict:
    """Validate and store a manifest in one transaction; return it as ``get_manifest`` does."""
    manifest = validate(manifest)
    with write(db):
        if list(
            db.query("SELECT 1 FROM manifests WHERE manifest_no = ?", [manifest["manifest_no"]])
        ):
            raise ConflictError(
                f"manifest {manifest['manifest_no']} already exists",
                [{"field": "manifest_no", "message": "already imported"}],
            )
        manifest_id = db.execute(
            "INSERT INTO manifests (manifest_no, bill_no, status, created_at, created_by)"
            " VALUES (?, ?, ?, ?, ?)",
            [manifest["manifest_no"], manifest["bill_no"], workflow.INITIAL, now(), user_id],
        ).lastrowid
        db.conn.executemany(
            f"INSERT INTO manifest_lines (manifest_id, {', '.join(LINE_FIELDS)})"
            f" VALUES (?, {', '.join('?' * len(LINE_FIELDS))})",
            [[manifest_id] + [line[f] for f in LINE_FIELDS] for line in manifest["lines"]],
        )
        record_event(
            db,
            "manifest-imported",
            user_id=user_id,
            manifest_id=manifest_id,
            manifest_no=manifest["manifest_no"],
            lines=len(manifest["lines"]),
        )
    return get_manifest(db, manifest_id)


def get_manifest(db: Database, manifest_id: int) -> dict:
    """The manifest head with its lines; NotFoundError if there is none."""
    head = load_head(db, manifest_id)
    head["lines"] = list_lines(db, manifest_id)
    return head


def load_head(db: Database, manifest_id: int) -> dict:
    """The manifest head row; NotFoundError if there is none."""
    row = next(
        iter(
            db.query(
                "SELECT id, manifest_no, bill_no, status, created_at FROM manifests WHERE id = ?",
                [manifest_id],
            )
        ),
        None,
    )
    if row is None:
        raise NotFoundError(f"no manifest with id {manifest_id}")
    return row


def list_lines(db: Database, manifest_id: int) -> list[dict]:
    """The manifest's lines in line order."""
    return list(
        db.query(
            f"SELECT id, {', '.join(LINE_FIELDS)} FROM manifest_lines WHERE manifest_id = ?"
            " ORDER BY line_no",
            [manifest_id],
        )
    )


def find_line(db: Database, manifest_id: int, line_no) -> dict:
    """One line by its number; ValidationError if the manifest has no such line."""
    row = next(
        iter(
            db.query(
                f"SELECT id, {', '.join(LINE_FIELDS)} FROM manifest_lines"
                " WHERE manifest_id = ? AND line_no = ?",
                [manifest_id, line_no],
            )
        ),
        None,
    )
    if row is None:
        raise ValidationError(
            f"the manifest has no line {line_no}",
            [{"field": "line_no", "message": f"no line {line_no}"}],
        )
    return row


def list_manifests(db: Database) -> list[dict]:
    """Every manifest, newest first, with line and quantity totals."""
    return list(
        db.query(
            """SELECT m.id, m.manifest_no, m.bill_no, m.status, m.created_at,
                  count(l.id) AS line_count, coalesce(sum(l.declared_qty), 0) AS declared_total
           FROM manifests m LEFT JOIN manifest_lines l ON l.manifest_id = m.id
           GROUP BY m.id ORDER BY m.id DESC"""
        )
    )
