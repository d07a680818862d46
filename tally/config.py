"""Configuration defaults. Every setting can be overridden by an environment variable with the
``TALLY_`` prefix (``TALLY_DATABASE``, ``TALLY_PORT``, ``TALLY_CUSTOMS_URL``, ...)."""

import os
from datetime import date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULTS = {
    # A SQLite file, or a PostgreSQL URL (postgresql://user@host/db; docs/deploy.md).
    "DATABASE": "var/tally.db",
    # Where the service keeps its own files (the session key, the embedded simulator's state):
    # unset, beside the SQLite file, or var/ with PostgreSQL.
    "VAR_DIR": None,
    # The pages' session signing key. Unset, one is made and kept in VAR_DIR; app servers that
    # share a PostgreSQL database must all be given the same one, so it is required there.
    "SECRET_KEY": None,
    "PORT": 8000,
    "CUSTOMS_URL": None,  # unset: `tally serve` starts the customs simulator beside it
    "CUSTOMS_TIMEOUT": 10.0,
    # How the outbox reaches customs: http (TALLY_CUSTOMS_URL) or files, through the Single
    # Window client's folders (tally/customs/files.py): the outbox it reads, the inbox it
    # writes; its SentBox and FailBox beside the outbox, our done and failed beside the inbox
    # unless set.
    "CUSTOMS_TRANSPORT": "http",
    "CUSTOMS_OUTBOX_DIR": None,
    "CUSTOMS_INBOX_DIR": None,
    "CUSTOMS_SENT_DIR": None,
    "CUSTOMS_FAIL_DIR": None,
    "CUSTOMS_DONE_DIR": None,
    "CUSTOMS_FAILED_DIR": None,
    # Hand-overs of one file to the Single Window client before the message fails: a file it
    # could not send (its FailBox) is put back into the outbox as the next try.
    "CUSTOMS_CLIENT_TRIES": 3,
    "OUTBOX_BACKOFF_BASE": 1.0,  # seconds before the first retry, doubled each time
    "OUTBOX_BACKOFF_MAX": 300.0,
    "OUTBOX_POLL_INTERVAL": 0.5,
    "RECEIPT_POLL_INTERVAL": 5.0,
    "MAX_IMAGE_BYTES": 15 * 1024 * 1024,
    "MAX_STORED_IMAGE_BYTES": 1024 * 1024,  # a larger frame is kept as a smaller grey JPEG
    "MAX_JSON_BYTES": 2 * 1024 * 1024,  # a batch of 1,000 scans is ~100 kB (manifests: any size)
    # The server (tally serve): where it listens, its worker processes (0: one per core), and
    # how long a client may take to send a request's head (or, idle between requests on a
    # kept-alive connection, the next one's) and its body before the connection is closed.
    "HOST": "127.0.0.1",
    "WORKERS": 0,
    "HEAD_TIMEOUT": 15.0,
    "BODY_TIMEOUT": 15.0,
    "ACCESS_LOG": None,  # any value: log every request to standard error
    # Site values for the customs messages (account book, enterprise and customs codes). The
    # account book number's characters 2-5 are the customs code (tally/company.py).
    "PUTREC_NO": "T4230W000293",
    "ETPS_NO": "3105960001",
    "CUSTOMS_CODE": "4230",
    "INVT_TYPE": "8",  # 8 bonded e-commerce; 3 enter first, declare later
    # Gate: |total weight - weighbridge reading| allowed, in kg (site configuration).
    "GATE_TOLERANCE_KG": 100.0,
    # The warehouse's time zone (IANA name): stored times stay UTC; pages and exports show them
    # in this zone. The zone must be known to the machine (Debian: the tzdata package).
    "TIMEZONE": "Asia/Shanghai",
    # Units counted from a GS1 carton whose expiry date is this many days away or fewer are
    # flagged on the scan page and in the reconciliation.
    "EXPIRY_WARNING_DAYS": 90,
    "PRINTER": None,  # network label printer for ZPL, "host:port" (port 9100 by default)
    # The pages' sessions: the cookie is sent over HTTPS only when the site is served over
    # HTTPS (TALLY_SESSION_SECURE=1 behind TLS; off by default, the service listens on HTTP).
    "SESSION_SECURE": False,
    # Sign-in throttling: failed sign-ins allowed per user name and per client address within
    # the window (seconds); past either, sign-ins are refused (429) until old failures age out.
    "SIGN_IN_FAILURES_PER_NAME": 10,
    "SIGN_IN_FAILURES_PER_ADDRESS": 50,
    "SIGN_IN_WINDOW": 900.0,
}

_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def from_env(environ=None) -> dict:
    """DEFAULTS overridden by TALLY_* environment variables, typed like the defaults."""
    environ = os.environ if environ is None else environ
    config = dict(DEFAULTS)
    for key, default in DEFAULTS.items():
        value = environ.get("TALLY_" + key)
        if value is None or value == "":
            continue
        if isinstance(default, bool):
            config[key] = _flag("TALLY_" + key, value)
        elif isinstance(default, int | float):
            config[key] = type(default)(value)
        else:
            config[key] = value
    return config


def _flag(name: str, value: str) -> bool:
    """An on/off setting: 1/true/yes/on or 0/false/no/off."""
    if value.strip().lower() in _TRUE:
        return True
    if value.strip().lower() in _FALSE:
        return False
    raise ValueError(f"{name} must be one of {'/'.join(_TRUE)} or {'/'.join(_FALSE)}, "
                     f"not {value!r}")


def var_dir(config) -> str:
    """Where the service keeps its own files: TALLY_VAR_DIR, else the SQLite file's folder, else
    var/ (PostgreSQL)."""
    from tally.pg import is_url

    if config.get("VAR_DIR"):
        return config["VAR_DIR"]
    database = config["DATABASE"]
    return "var" if is_url(database) else os.path.dirname(os.path.abspath(database))


def site_settings(config) -> dict:
    """The site values from the environment the customs message builders start from: the
    account book number, enterprise and customs codes (defaults of the company settings, which
    tally/company.py keeps in the database), the list type and the time zone."""
    return {
        "putrec_no": config["PUTREC_NO"],
        "etps_no": config["ETPS_NO"],
        "customs_code": config["CUSTOMS_CODE"],
        "invt_type": str(config["INVT_TYPE"]),
        "timezone": config.get("TIMEZONE") or DEFAULTS["TIMEZONE"],
    }


def time_zone(config) -> ZoneInfo:
    """The warehouse's time zone (TIMEZONE); ValueError naming the setting if the machine does
    not know it, so that the service refuses to start rather than show times in a wrong zone."""
    name = config.get("TIMEZONE") or DEFAULTS["TIMEZONE"]
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"TALLY_TIMEZONE={name!r} is not a time zone this machine knows: give"
                         " an IANA name such as Asia/Shanghai, and install the time zone data"
                         " (Debian: apt-get install tzdata)") from None


def expiry_check(config) -> tuple[date, int]:
    """Today's date where the warehouse is (expiry dates are calendar dates there) and the days
    before an expiry date from which units are flagged."""
    zone = ZoneInfo(config.get("TIMEZONE") or "Asia/Shanghai")
    return datetime.now(zone).date(), int(config["EXPIRY_WARNING_DAYS"])
