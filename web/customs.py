"""The customs client the app talks through, chosen by TALLY_CUSTOMS_URL, and the outbox's
transport (TALLY_CUSTOMS_TRANSPORT)."""

from flask import current_app

from tally.catalogue import say
from tally.customs.client import CustomsClient
from tally.customs.files import FileDropTransport
from tally.errors import ConflictError


def customs_client() -> CustomsClient:
    """A client for the configured customs URL; 409 when none is configured."""
    url = current_app.config.get("CUSTOMS_URL")
    if not url:
        raise ConflictError(say("customs_not_configured"))
    return CustomsClient(url, timeout=float(current_app.config["CUSTOMS_TIMEOUT"]))


def customs_transport():
    """What the outbox's messages and receipts go through (TALLY_CUSTOMS_TRANSPORT): the
    Single Window client's folders, or the customs client over HTTP."""
    if (current_app.config.get("CUSTOMS_TRANSPORT") or "http").lower() == "files":
        return FileDropTransport.from_config(current_app.config)
    return customs_client()
