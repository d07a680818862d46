"""Company settings: one rule per field, checked before anything is stored, audited, with the
environment's values as defaults for the account book number and the two customs codes."""

import json
import re

import pytest

from tally import company
from tally.config import DEFAULTS, site_settings
from tally.demo import DEMO_SETTINGS
from tally.errors import ValidationError

SITE = site_settings(DEFAULTS)


@pytest.mark.parametrize("code", [
    "913302017532977856", "91330201MA2825TK0U", "913310005943981745",  # real, in [G]'s data
    "91110302600088026B", *(DEMO_SETTINGS[k] for k in company.KEYS if k.endswith("_sccd")),
])
def test_credit_codes_with_their_check_character(code):
    assert company.is_credit_code(code)
    assert company.check_value("operating_sccd", code.lower()) == (code, [])


@pytest.mark.parametrize("code, why", [
    ("913302017532977857", "setting_credit_code_check"),   # check character should be 6
    ("91330201MA2825TK0V", "setting_credit_code_form"),    # V is not in the alphabet
    ("91330201MA2825TKOU", "setting_credit_code_form"),    # O neither
    ("9133020175329778", "setting_credit_code_form"),      # 16 characters
    ("9133020175329778561", "setting_credit_code_form"),   # 19
])
def test_credit_codes_refused(code, why):
    value, errors = company.check_value("declaring_sccd", code)
    assert value is None and [e["message"].code for e in errors] == [why]
    assert errors[0]["field"] == "declaring_sccd"


def test_a_wrong_check_character_names_the_right_one():
    _, [error] = company.check_value("input_sccd", "913302017532977850")
    assert "should be 6, not 0" in error["message"]


@pytest.mark.parametrize("key, good, bad", [
    ("sys_id", "Z7", "Z9"),
    ("sys_id", "Z8", "z8"),
    ("customs_code", "3111", "311"),
    ("customs_code", "4230", "31A1"),
    ("putrec_no", "T3111W000076", "T311W000076"),
    ("etps_no", "330261A004", "330261A00"),
    ("input_code", "3105960001", "3105-96000"),
    ("oper_cus_reg_code", "330261A004", "330261A0045"),
    ("ic_card_no", "JJ3G900420543", "JJ-3G"),
    ("dxp_id", "DXPENT0000018755", "ENT0000018755"),
    ("departure_country", "601", "XX"),
    ("operating_name", "宁波高新物流有限公司", "   "),
    ("applicant", "王芳 021-60000000", "x" * 101),
])
def test_one_rule_per_field(key, good, bad):
    assert company.check_value(key, good)[1] == []
    value, errors = company.check_value(key, bad)
    assert value is None and errors and errors[0]["field"] == key


def test_a_country_of_departure_is_stored_as_the_customs_code():
    assert company.check_value("departure_country", "AU") == ("601", [])


def test_an_unknown_key_is_refused():
    _, [error] = company.check_value("colour", "blue")
    assert error["message"].code == "setting_unknown"


def test_environment_values_are_defaults_until_set(db):
    values = company.load(db, SITE)
    assert values["putrec_no"] == DEFAULTS["PUTREC_NO"]
    assert values["etps_no"] == DEFAULTS["ETPS_NO"]
    assert values["customs_code"] == DEFAULTS["CUSTOMS_CODE"]
    assert "operating_sccd" in company.missing(values)
    company.record_settings(db, {"putrec_no": "t3111w000076", "customs_code": "3111"},
                            user_id=None, site=SITE)
    assert company.load(db, SITE)["putrec_no"] == "T3111W000076"
    described = {s["key"]: s for s in company.describe(db, SITE)["settings"]}
    assert described["putrec_no"]["source"] == "stored"
    assert described["etps_no"]["source"] == "environment"
    assert described["sys_id"]["source"] is None


def test_settings_are_stored_all_or_nothing_and_audited(db):
    assert company.record_settings(db, DEMO_SETTINGS, user_id=None) == sorted(DEMO_SETTINGS)
    assert company.missing(company.load(db, SITE)) == []
    with pytest.raises(ValidationError) as caught:
        company.record_settings(db, {"sys_id": "Z7", "customs_code": "31", "dxp_id": "x"},
                                user_id=None)
    assert [e["field"] for e in caught.value.errors] == ["customs_code", "dxp_id"]
    assert company.load(db, SITE)["sys_id"] == "Z8"  # nothing stored
    assert company.record_settings(db, {"sys_id": "Z7", "applicant": DEMO_SETTINGS[
        "applicant"]}, user_id=None) == ["sys_id"]  # only what changed
    events = [json.loads(r["details"]) for r in db.query(
        "SELECT details FROM events WHERE name = 'settings-changed' ORDER BY id")]
    assert len(events) == 2
    assert events[1]["changes"] == {"sys_id": {"from": "Z8", "to": "Z7"}}


def test_the_default_account_book_is_of_the_default_customs():
    assert DEFAULTS["PUTREC_NO"][1:5] == DEFAULTS["CUSTOMS_CODE"]
    assert company.putrec_no_problems(SITE) == []


@pytest.mark.parametrize("changes", [
    {"putrec_no": "T3111W000076"},                 # against the environment's customs 4230
    {"customs_code": "3111"},                      # against the environment's book T4230...
    {"putrec_no": "T3111W000076", "customs_code": "4231"},
])
def test_an_account_book_of_another_customs_is_refused(db, changes):
    with pytest.raises(ValidationError) as caught:
        company.record_settings(db, changes, user_id=None, site=SITE)
    [error] = caught.value.errors
    assert error["field"] == "putrec_no"
    assert error["message"].code == "setting_putrec_no_customs"
    assert "characters 2-5" in error["message"] and "第 2-5 位" in error["message"].zh
    assert list(db.query("SELECT * FROM settings")) == []  # nothing stored


def test_an_account_book_is_checked_against_the_stored_customs_code(db):
    company.record_settings(db, {"customs_code": "3111", "putrec_no": "T3111W000076"},
                            user_id=None, site=SITE)
    with pytest.raises(ValidationError):
        company.record_settings(db, {"putrec_no": "T4230W000293"}, user_id=None, site=SITE)
    assert company.record_settings(db, {"putrec_no": "T3111W000099"}, user_id=None,
                                   site=SITE) == ["putrec_no"]


@pytest.mark.parametrize("body", [None, [], {}, "sys_id=Z7"])
def test_settings_must_be_an_object(db, body):
    with pytest.raises(ValidationError):
        company.record_settings(db, body, user_id=None)


@pytest.mark.parametrize(("environment", "said"), [
    ({"CUSTOMS_CODE": "3111"}, "TALLY_PUTREC_NO / TALLY_CUSTOMS_CODE: account book number "
                               "T4230W000293 belongs to customs 4230"),
    ({"PUTREC_NO": "T42"}, "TALLY_PUTREC_NO='T42'"),
    ({"ETPS_NO": "31-05"}, "TALLY_ETPS_NO='31-05'"),
    ({"CUSTOMS_CODE": "42301"}, "TALLY_CUSTOMS_CODE='42301'"),
])
def test_site_defaults_the_settings_page_would_refuse_stop_the_start(db_path, environment,
                                                                      said):
    from web import create_app

    assert company.site_problems(SITE) == []
    with pytest.raises(ValueError, match=re.escape(said)):
        create_app({"DATABASE": db_path, **environment})
