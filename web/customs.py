"""The customs client the app talks through, chosen by TALLY_CUSTOMS_URL."""

from flask import current_app

from tally.catalogue import say
from tally.customs.client import CustomsClient
from tally.errors import ConflictError


def customs_client() -> CustomsClient:
    """A client for the configured customs URL; 409 when none is configured."""
    url = current_app.config.get("CUSTOMS_URL")
    if not url:
        raise ConflictError(say("customs_not_configured"))
    return CustomsClient(url, timeout=float(current_app.config["CUSTOMS_TIMEOUT"]))
