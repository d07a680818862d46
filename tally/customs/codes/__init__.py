"""The customs' code tables, as data: country, currency, unit, transport mode, supervision mode.

The special-area system (金关二期) wants its own codes in a message: 3-digit customs country codes
(``natcd`` 601 Australia), 3-digit currency codes (``dclCurrcd`` 502 US dollar), 3-digit units
(``dclUnitcd`` 035 kilogram), one-character transport modes (``trspModecd``) and 4-digit
supervision modes (``supvModecd`` 1210). A manifest may carry ISO codes (AU, AUS, USD) or the
Chinese names instead; these lookups turn any of them into the customs' code.

The tables are the CSV files beside this module; README.md in this folder names their source.
Each is read once, on first use. Every lookup raises UnknownCode (a ValidationError and a
ValueError) for a value the table does not have.
"""

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources

from tally.errors import ValidationError


class UnknownCode(ValidationError, ValueError):
    "A value the customs' code table does not have"


@dataclass(frozen=True)
class Table:
    """One code table: its rows (dicts of the CSV's columns) and the inputs it accepts."""

    name: str                 # the CSV file's stem, e.g. "countries"
    what: str                 # how an error names one entry, e.g. "country"
    rows: tuple[dict, ...]
    index: dict[str, str]     # normalised input -> customs code
    hint: str                 # what inputs are accepted, for the error message

    def code(self, value) -> str:
        """The customs code for ``value`` (a code, or another key this table accepts)."""
        key = _key(value)
        if key in self.index:
            return self.index[key]
        if key == "":
            raise UnknownCode(f"a {self.what} is required: {self.hint}")
        raise UnknownCode(f"unknown {self.what} {value!r}: {self.hint} "
                          f"(tally/customs/codes/{self.name}.csv)")


# Which columns of each CSV are accepted as input. The customs code itself comes first; the
# Chinese name is the customs' own (unique in each table).
_KEYS = {
    "countries": ("code", "alpha3", "iso_alpha2", "name_zh"),
    "currencies": ("code", "iso_alpha3", "name_zh"),
    "units": ("code", "name_zh", "symbol"),
    "transport_modes": ("code", "name_zh"),
    "supervision_modes": ("code", "name_zh"),
}
_WHAT = {
    "countries": ("country", "give the customs' 3-digit code (601), an ISO 3166 code (AU or "
                  "AUS) or the customs' Chinese name (澳大利亚); 3 digits are read as the "
                  "customs' code, not as ISO 3166 numeric"),
    "currencies": ("currency", "give the customs' 3-digit code (502), the ISO 4217 code (USD) "
                   "or the customs' Chinese name (美元)"),
    "units": ("unit", "give the customs' 3-digit unit code (035), its Chinese name (千克) or a "
              "metric symbol (kg)"),
    "transport_modes": ("transport mode", "give the customs' one-character code (4) or its "
                        "Chinese name (公路运输)"),
    "supervision_modes": ("supervision mode", "give the customs' 4-digit code (1210) or its "
                          "Chinese name (保税电商)"),
}


def _key(value) -> str:
    """Inputs compare trimmed and case-insensitively (au = AU, KG = kg)."""
    return "" if value is None else str(value).strip().upper()


@cache
def table(name: str) -> Table:
    """The code table ``name`` (countries, currencies, units, transport_modes,
    supervision_modes), read from its CSV once."""
    if name not in _KEYS:
        raise ValueError(f"no code table {name!r} (tables: {', '.join(_KEYS)})")
    source = resources.files(__package__).joinpath(f"{name}.csv")
    with source.open(encoding="utf-8", newline="") as handle:
        rows = tuple(csv.DictReader(handle))
    index: dict[str, str] = {}
    for row in rows:
        for column in _KEYS[name]:
            key = _key(row[column])
            if not key:
                continue
            if index.setdefault(key, row["code"]) != row["code"]:
                # A key naming two codes would make the lookup a guess: refuse the table.
                raise ValueError(f"{name}.csv: {key!r} names both {index[key]} and {row['code']}")
    what, hint = _WHAT[name]
    return Table(name, what, rows, index, hint)


def country(value) -> str:
    """The 3-digit customs country code (natcd): country("AU") == country("AUS") == "601"."""
    return table("countries").code(value)


def currency(value) -> str:
    """The 3-digit customs currency code (dclCurrcd): currency("USD") == "502"."""
    return table("currencies").code(value)


def unit(value) -> str:
    """The 3-digit customs unit code (dclUnitcd): unit("kg") == unit("千克") == "035"."""
    return table("units").code(value)


def transport_mode(value) -> str:
    """The customs transport mode code (trspModecd): transport_mode("公路运输") == "4"."""
    return table("transport_modes").code(value)


def supervision_mode(value) -> str:
    """The 4-digit supervision mode code (supvModecd): supervision_mode("保税电商") == "1210"."""
    return table("supervision_modes").code(value)
