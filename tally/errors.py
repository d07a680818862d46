"""Domain errors, in the business's terms; web/errors.py maps them to HTTP statuses."""


class TallyError(Exception):
    """Base of every domain error; ``errors`` holds per-field or per-row details."""

    def __init__(self, message: str, errors: list[dict] | None = None, **extra):
        super().__init__(message)
        self.message = message
        self.errors = errors or []
        self.extra = extra


class ValidationError(TallyError):
    "The input is malformed or breaks a rule"


class NotFoundError(TallyError):
    "Record not found"


class ConflictError(TallyError):
    "The request conflicts with the current state"


class AuthenticationError(TallyError):
    "Missing or unknown credentials"


class PermissionDenied(TallyError):
    "The user's role does not allow this"


class PayloadTooLarge(TallyError):
    "The upload is over the size limit"


class TooManyRequests(TallyError):
    "Too many attempts in a short time; ``retry_after`` (seconds) says when to try again"
