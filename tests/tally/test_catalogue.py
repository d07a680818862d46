"""The message catalogue: every code has an English and a Chinese text that fill from the same
parameters, and every code a raise site names exists."""

import pathlib
import re
import string

import pytest

from tally.catalogue import CATALOGUE, TERMS_ZH, Text, coded, joined, say
from tally.errors import ConflictError, NotFoundError, ValidationError

ROOT = pathlib.Path(__file__).resolve().parents[2]
CJK = re.compile(r"[\u4e00-\u9fff]")


def fields_of(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@pytest.mark.parametrize("code", sorted(CATALOGUE))
def test_every_code_has_both_texts_from_the_same_parameters(code):
    english, chinese = CATALOGUE[code]
    assert re.fullmatch(r"[a-z][a-z0-9_]*", code)
    assert english.strip() and chinese.strip()
    used = {name.removesuffix("_zh") for name in fields_of(chinese)}
    if fields_of(english) != {"detail"} and english.strip("{}") not in fields_of(english):
        # Only a text that is wholly a parameter (a detail from a library) may lack Chinese.
        assert CJK.search(chinese), f"{code}: no Chinese in {chinese!r}"
    params = {name: 1 for name in fields_of(english) | used}
    text = say(code, **params)
    assert isinstance(text, Text) and text.code == code and text.zh


def test_every_code_a_raise_site_names_is_in_the_catalogue():
    named = set()
    for folder in ("tally", "web"):
        for path in (ROOT / folder).rglob("*.py"):
            named |= set(re.findall(r'\bsay\(\s*"([a-z0-9_]+)"\s*[,)]', path.read_text("utf-8")))
    assert named, "the scan found no say() call"
    # Codes put together at the raise site: the field readers' ranges, a signature's problem.
    named |= {f"integer{ranged}_{what}" for ranged in ("", "_range")
              for what in ("required", "invalid")}
    named |= {"signature_" + kind.replace("-", "_") for kind in
              ("too-large", "not-png", "too-many-pixels", "corrupt", "blank")}
    missing = named - set(CATALOGUE)
    assert not missing, missing


def test_a_text_is_its_english_with_code_and_chinese():
    text = say("role_required", role="supervisor", user="ann", user_role="operator")
    assert text == "this needs the supervisor role; ann is operator"
    assert text.zh == "此操作需要主管角色；ann 是理货员"
    assert TERMS_ZH["written_off"] == "已核销"
    nested = say("tally_not_open", status="arrived", why=say("waits_inspection"),
                 refused=say("scans_refused"))
    assert nested.startswith("the tally is not open yet (arrived): inspection")
    assert nested.zh == "理货尚未开始（到货）：查验尚未通过，之后还需核销；不接受扫描"
    both = joined([say("no_vehicle"), "plain English"])
    assert both == "no truck is associated with its release order; plain English"
    assert both.zh.startswith("核放单尚未关联车辆") and "；" in both.zh


def test_errors_carry_the_code_of_their_text_or_their_class():
    error = NotFoundError(say("manifest_not_found", manifest_id=5))
    assert (error.code, error.message, error.message_zh) == (
        "manifest_not_found", "no manifest with id 5", "没有编号为 5 的舱单")
    assert str(error) == "no manifest with id 5"
    plain = ConflictError("something uncoded")
    assert plain.code == "conflict" and plain.message_zh == CATALOGUE["conflict"][1]
    assert ValidationError("x").code == "validation_failed"
    item = coded({"field": "qty", "code": "U1", "message": say("number_required")})
    assert item == {"field": "qty", "code": "number_required", "message": "a number is required",
                    "message_zh": "必须填写数字"}
    assert coded({"message": "free text"})["code"] == "invalid_value"
