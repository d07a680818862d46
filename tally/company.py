"""The site's company settings the customs messages need: who operates, receives and declares,
the input unit, the operator's IC card, the system and customs codes, the account book number
and the Single Window channel id (docs/customs.md, "Company settings").

They are kept in the ``settings`` table, one row per key, each checked by one rule below and
audited when set. The account book number, the enterprise customs code and the customs code
fall back to TALLY_PUTREC_NO, TALLY_ETPS_NO and TALLY_CUSTOMS_CODE while not set here.
"""

import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlite_utils import Database

from tally.catalogue import say
from tally.customs import codes
from tally.db import now, write
from tally.errors import ValidationError
from tally.events import record_event
from tally.fields import Fields

# GB 32100-2015, the unified social credit code (统一社会信用代码): 18 characters of this
# alphabet (no I, O, S, V, Z); the 18th is a check character over the first 17 with these
# weights, 31 - (sum mod 31), 31 written as 0. Checked against real codes in [G]'s test data
# (913302017532977856, 91330201MA2825TK0U).
CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_CREDIT_FORM = re.compile(f"[{CREDIT_ALPHABET}]{{18}}")


def credit_check_character(first17: str) -> str:
    """The GB 32100-2015 check character of a credit code's first 17 characters."""
    total = sum(CREDIT_ALPHABET.index(c) * w for c, w in zip(first17, CREDIT_WEIGHTS, strict=True))
    return CREDIT_ALPHABET[(31 - total % 31) % 31]


def is_credit_code(text: str) -> bool:
    """True for an 18-character unified social credit code with its right check character."""
    return bool(_CREDIT_FORM.fullmatch(text)) and credit_check_character(text[:17]) == text[17]


@dataclass(frozen=True)
class Setting:
    """One setting: its key, what it is in both languages, its rule and where it goes."""

    key: str
    english: str
    chinese: str
    rule: str        # credit_code, name, etps_code, customs_code, putrec_no, sys_id, ...
    element: str     # the message element(s) it fills
    env: str | None = None  # the TALLY_ variable that is its default (tally/config.py)


SETTINGS: tuple[Setting, ...] = (
    Setting("operating_sccd", "operating company, credit code", "经营企业社会信用代码",
            "credit_code", "INV101 BizopEtpsSccd"),
    Setting("operating_name", "operating company, name", "经营企业名称", "name",
            "INV101 BizopEtpsNm"),
    Setting("receiving_sccd", "receiving company, credit code", "收发货企业社会信用代码",
            "credit_code", "INV101 RvsngdEtpsSccd; SAS121 AreainEtpsSccd"),
    Setting("receiving_name", "receiving company, name", "收发货企业名称", "name",
            "INV101 RcvgdEtpsNm; SAS121 AreainEtpsNm"),
    Setting("declaring_sccd", "declaring company, credit code", "申报企业社会信用代码",
            "credit_code", "INV101 / SAS121 DclEtpsSccd"),
    Setting("declaring_name", "declaring company, name", "申报企业名称", "name",
            "INV101 / SAS121 DclEtpsNm"),
    Setting("input_code", "input unit, customs code", "录入单位编号", "etps_code",
            "INV101 / SAS121 InputCode"),
    Setting("input_sccd", "input unit, credit code", "录入单位社会信用代码", "credit_code",
            "INV101 InputCreditCode; SAS121 InputSccd"),
    Setting("input_name", "input unit, name", "录入单位名称", "name",
            "INV101 / SAS121 InputName"),
    Setting("etps_no", "enterprise customs code", "企业海关编码", "etps_code",
            "INV101 BizopEtpsno, RcvgdEtpsno, DclEtpsno; SAS121 AreainEtpsno, DclEtpsno",
            env="ETPS_NO"),
    Setting("putrec_no", "account book number", "电子账册号", "putrec_no",
            "INV101 PutrecNo; SAS121 AreainOriactNo", env="PUTREC_NO"),
    Setting("customs_code", "customs code", "主管海关", "customs_code",
            "INV101 ImpexpPortcd, DclPlcCuscd; SAS121 MasterCuscd", env="CUSTOMS_CODE"),
    Setting("ic_card_no", "IC card number", "IC卡号", "ic_card",
            "envelope Ic_Card; INV101 IcCardNo"),
    Setting("oper_cus_reg_code", "card holder's customs code", "操作员海关十位编码",
            "etps_code", "InvtMessage / PassPortMessage OperCusRegCode"),
    Setting("sys_id", "system id", "系统标识", "sys_id", "InvtMessage SysId"),
    Setting("dxp_id", "Single Window channel id", "电子口岸通道编号", "dxp_id",
            "envelope sender_id"),
    Setting("departure_country", "country of departure", "起运/运抵国", "country",
            "INV101 StshipTrsarvNatcd"),
    Setting("applicant", "applicant and contact", "申请人及联系方式", "name",
            "SAS121 DclErConc"),
)
BY_KEY = {s.key: s for s in SETTINGS}
KEYS = tuple(BY_KEY)

# One rule per kind of field: (pattern, catalogue code of its message). Names are text.
_RULES = {
    # The enterprise's 10-character customs code (海关十位: 330261A004 in [G]).
    "etps_code": (re.compile(r"[0-9A-Z]{10}"), "setting_etps_code_form"),
    # 关区代码: 4 digits (3111 Ningbo-Beilun in [G]).
    "customs_code": (re.compile(r"[0-9]{4}"), "setting_customs_code_form"),
    # 电子账册号: a letter, the 4-digit customs code, then 7 (T3111W000076 in [G]).
    "putrec_no": (re.compile(r"[A-Z][0-9]{4}[0-9A-Z]{7}"), "setting_putrec_no_form"),
    # The operator card's number (JJ3G900420543 and 2100040033809 in public code).
    "ic_card": (re.compile(r"[0-9A-Z]{8,20}"), "setting_ic_card_form"),
    "sys_id": (re.compile(r"Z7|Z8"), "setting_sys_id_form"),
    # Single Window (DXP) channel ids: DXP + 3 letters + 10 (DXPENT0000018755).
    "dxp_id": (re.compile(r"DXP[A-Z]{3}[0-9A-Z]{10}"), "setting_dxp_id_form"),
}
NAME_LENGTH = 100


def check_value(key: str, value) -> tuple[str | None, list[dict]]:
    """A setting's value as stored, and its problems (empty when it is right)."""
    fields = Fields()
    setting = BY_KEY.get(key)
    if setting is None:
        fields.problem(key, say("setting_unknown", key=key, keys=", ".join(KEYS)))
        return None, fields.errors
    text = fields.text(value, key, max_length=NAME_LENGTH)
    if text is None:
        return None, fields.errors
    if setting.rule == "credit_code":
        text = text.upper()
        if not _CREDIT_FORM.fullmatch(text):
            fields.problem(key, say("setting_credit_code_form"))
        elif not is_credit_code(text):
            fields.problem(key, say("setting_credit_code_check",
                                    check=credit_check_character(text[:17]), got=text[17]))
    elif setting.rule == "country":
        try:
            text = codes.country(text)
        except codes.UnknownCode as exc:
            fields.problem(key, exc.message)
    elif setting.rule in _RULES:
        pattern, code = _RULES[setting.rule]
        if setting.rule != "sys_id":
            text = text.upper()
        if not pattern.fullmatch(text):
            fields.problem(key, say(code))
    return (text if not fields.errors else None), fields.errors


def putrec_no_problems(values: dict) -> list[dict]:
    """The account book number (电子账册号) carries the customs code of its area at characters
    2-5 (T3111W000076 under customs 3111 [G]): a problem when it is not the customs code in
    force (both known)."""
    putrec_no, customs_code = values.get("putrec_no"), values.get("customs_code")
    if not putrec_no or not customs_code or putrec_no[1:5] == customs_code:
        return []
    return [{"field": "putrec_no", "message": say(
        "setting_putrec_no_customs", putrec_no=putrec_no, area=putrec_no[1:5],
        customs_code=customs_code)}]


def site_problems(site: dict) -> list[str]:
    """What is wrong with the TALLY_PUTREC_NO, TALLY_ETPS_NO and TALLY_CUSTOMS_CODE defaults
    (tally.config.site_settings), each naming its variable: the service does not start with a
    default the settings page would refuse."""
    problems = []
    for key in ("putrec_no", "etps_no", "customs_code"):
        value, errors = check_value(key, site.get(key) or "")
        problems += [f"TALLY_{BY_KEY[key].env}={site.get(key)!r}: {e['message']}"
                     for e in errors]
        if value is not None:
            site = {**site, key: value}
    if not problems:
        problems += [f"TALLY_PUTREC_NO / TALLY_CUSTOMS_CODE: {e['message']}"
                     for e in putrec_no_problems(site)]
    return problems


def load(db: Database, site: dict) -> dict:
    """The settings in force: the stored ones over ``site`` (tally.config.site_settings: the
    TALLY_PUTREC_NO, TALLY_ETPS_NO and TALLY_CUSTOMS_CODE defaults, the list type and the time
    zone), every key of SETTINGS present (None when unset)."""
    values = {**site, **{key: site.get(key) for key in KEYS}}
    values.update({row["key"]: row["value"] for row in db.query(
        "SELECT key, value FROM settings") if row["key"] in BY_KEY})
    return values


def missing(values: dict) -> list[str]:
    """The settings the messages need that have no value."""
    return [key for key in KEYS if not values.get(key)]


def describe(db: Database, site: dict) -> dict:
    """Each setting with its value, where the value comes from and what it fills (for pages,
    the API and the command)."""
    stored = {row["key"]: row for row in db.query("SELECT * FROM settings")}
    values = load(db, site)
    return {"settings": [
        {"key": s.key, "value": values[s.key], "english": s.english, "chinese": s.chinese,
         "element": s.element,
         "source": "stored" if s.key in stored else ("environment" if values[s.key] else None),
         "updated_at": stored[s.key]["updated_at"] if s.key in stored else None}
        for s in SETTINGS], "missing": missing(values)}


def record_settings(db: Database, changes: object, *, user_id: int | None,
                    site: dict | None = None) -> list[str]:
    """Store one or more settings (``{key: value}``), every value checked first: nothing is
    stored if any is wrong, nor an account book number of another customs than the customs
    code in force (putrec_no_problems; ``site``: the environment's defaults, as for load). One
    audit event names the keys and their old and new values. Returns the keys that changed."""
    if not isinstance(changes, dict) or not changes:
        raise ValidationError(say("settings_not_object"))
    errors, checked = [], {}
    for key, value in changes.items():
        text, problems = check_value(str(key), value)
        errors += problems
        checked[key] = text
    if errors:
        raise ValidationError(say("settings_invalid", count=len(errors)), errors)
    with write(db):
        errors = putrec_no_problems({**load(db, site or {}), **checked})
        if errors:
            raise ValidationError(say("settings_invalid", count=len(errors)), errors)
        old = {row["key"]: row["value"] for row in db.query("SELECT key, value FROM settings")}
        changed = {k: v for k, v in checked.items() if old.get(k) != v}
        for key, value in changed.items():
            db.execute(
                "INSERT INTO settings (key, value, updated_at, updated_by) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value,"
                " updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                [key, value, now(), user_id])
        if changed:
            record_event(db, "settings-changed", user_id=user_id,
                         changes={k: {"from": old.get(k), "to": v} for k, v in changed.items()})
    return sorted(changed)


def declaration_date(settings: dict) -> str:
    """Today as ``yyyyMMdd`` where the warehouse is (InputTime, InvtDclTime, DclTime [G])."""
    zone = ZoneInfo(settings.get("timezone") or "Asia/Shanghai")
    return datetime.now(zone).strftime("%Y%m%d")
