"""Domain exceptions: each carries the contract's error code and HTTP status."""


class DomainError(Exception):
    """Base of every refusal the domain can give; views turn it into a response."""

    code = "error"
    status = 400

    def __init__(self, message: str, fields: dict | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}
        if code:
            self.code = code


class ValidationFailed(DomainError):
    code, status = "invalid", 422


class NotFound(DomainError):
    code, status = "not_found", 404


class Forbidden(DomainError):
    code, status = "forbidden", 403


class Conflict(DomainError):
    code, status = "conflict", 409


class Duplicate(Conflict):
    code = "duplicate"


class InvalidTransition(Conflict):
    code = "invalid_transition"


class AttemptLimit(Conflict):
    code = "attempt_limit"


class Unauthenticated(DomainError):
    code, status = "unauthenticated", 401


class RateLimited(DomainError):
    code, status = "rate_limited", 429


class Unavailable(DomainError):
    code, status = "unavailable", 503
