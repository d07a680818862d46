"""Configuration defaults. Every setting can be overridden by an environment variable with the
``TALLY_`` prefix (``TALLY_DATABASE``, ``TALLY_PORT``, ``TALLY_CUSTOMS_URL``, ...)."""

import os

DEFAULTS = {
    "DATABASE": "var/tally.db",
    "PORT": 8000,
    "CUSTOMS_URL": None,  # unset: `tally serve` starts the customs simulator beside it
    "CUSTOMS_TIMEOUT": 10.0,
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
    # Site values for the customs messages (account book, enterprise and customs codes).
    "PUTREC_NO": "T3105W000293",
    "ETPS_NO": "3105960001",
    "CUSTOMS_CODE": "4230",
    "INVT_TYPE": "8",  # 8 bonded e-commerce; 3 enter first, declare later
    # Gate: |total weight - weighbridge reading| allowed, in kg (site configuration).
    "GATE_TOLERANCE_KG": 100.0,
    "PRINTER": None,  # network label printer for ZPL, "host:port" (port 9100 by default)
}


def from_env(environ=None) -> dict:
    """DEFAULTS overridden by TALLY_* environment variables, typed like the defaults."""
    environ = os.environ if environ is None else environ
    config = dict(DEFAULTS)
    for key, default in DEFAULTS.items():
        value = environ.get("TALLY_" + key)
        if value is None or value == "":
            continue
        config[key] = type(default)(value) if isinstance(default, int | float) else value
    return config


def site_settings(config) -> dict:
    """The site values the customs message builders need."""
    return {
        "putrec_no": config["PUTREC_NO"],
        "etps_no": config["ETPS_NO"],
        "customs_code": config["CUSTOMS_CODE"],
        "invt_type": str(config["INVT_TYPE"]),
    }
