"""Domain errors, in the business's terms; web/errors.py maps them to HTTP statuses.

A raise names its message by code (tally/catalogue.py): ``raise NotFoundError(say(
"manifest_not_found", manifest_id=5))``; the error's ``code`` and Chinese text come with it. A
plain string still works and takes the class's generic code (``default_code``).
"""

from tally.catalogue import english_and_chinese


class TallyError(Exception):
    """Base of every domain error; ``errors`` holds per-field or per-row details."""

    default_code = "conflict"

    def __init__(self, message: str, errors: list[dict] | None = None, **extra):
        super().__init__(message)
        self.message = message
        self.errors = errors or []
        self.extra = extra
        self.code, _, self.message_zh = english_and_chinese(message, self.default_code)


class ValidationError(TallyError):
    "The input is malformed or breaks a rule"

    default_code = "validation_failed"


class NotFoundError(TallyError):
    "Record not found"

    default_code = "not_found"


class ConflictError(TallyError):
    "The request conflicts with the current state"

    default_code = "conflict"


class AuthenticationError(TallyError):
    "Missing or unknown credentials"

    default_code = "authentication_required"


class PermissionDenied(TallyError):
    "The user's role does not allow this"

    default_code = "permission_denied"


class PayloadTooLarge(TallyError):
    "The upload is over the size limit"

    default_code = "payload_too_large"


class TooManyRequests(TallyError):
    "Too many attempts in a short time; ``retry_after`` (seconds) says when to try again"

    default_code = "too_many_requests"
