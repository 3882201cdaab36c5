"""Protections that sit around the views: the invite rate limit and the participant pages' CSP."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

_PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
# Pages that must run inline code of their own (Django admin, the API docs) get no strict CSP.
_CSP_EXEMPT_PREFIXES = ("/admin/", "/api/docs", "/api/redoc", "/staff/")
PARTICIPANT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)


def parse_rate(rate: str) -> tuple[int, int]:
    """'30/minute' -> (30, 60)."""
    count, _, period = rate.partition("/")
    try:
        return int(count), _PERIODS[period.strip().rstrip("s")]
    except (ValueError, KeyError):
        raise ValueError(f"rate {rate!r} is not like '30/minute' (second, minute, hour or day)") from None


def client_address(request: HttpRequest) -> str:
    """The client's address: REMOTE_ADDR, or behind SURVEY_TRUSTED_PROXIES proxies the X-Forwarded-For entry
    that many places from the right (each proxy appends the address it received from, so the entries to the
    left of it are whatever the client sent, and forgeable). A request with fewer entries did not pass
    through every proxy: it is counted by the address it came from."""
    remote = request.META.get("REMOTE_ADDR", "") or "unknown"
    proxies = settings.SURVEY_TRUSTED_PROXIES
    if proxies <= 0:
        return remote
    forwarded = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [hop for hop in forwarded if hop]
    return forwarded[-proxies] if len(forwarded) >= proxies else remote


def axes_client_address(request: HttpRequest) -> str | None:
    """The same address for django-axes' admin login throttling; None when the request has none (a test
    client's login, a management command), which its log stores as empty (PostgreSQL's inet refuses text)."""
    address = client_address(request)
    return None if address == "unknown" else address


def invite_attempt_allowed(request: HttpRequest) -> bool:
    """Count one use of an invite token (valid or not) from this address; False once over the limit.

    Fixed windows in the cache: shared by every web host with SURVEY_CACHE_URL (Redis); without it each
    process counts for itself.
    """
    limit, period = parse_rate(settings.SURVEY_INVITE_RATE)
    window = int(time.time() // period)
    key = f"invite-attempts:{client_address(request)}:{window}"
    if cache.add(key, 1, timeout=period + 1):
        return limit >= 1
    try:
        return cache.incr(key) <= limit
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=period + 1)
        return True


class ContentSecurityPolicyMiddleware:
    """A strict CSP on participant pages and images: no inline script, nothing from other origins."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        response = self.get_response(request)
        if not request.path.startswith(_CSP_EXEMPT_PREFIXES):
            response.setdefault("Content-Security-Policy", PARTICIPANT_CSP)
        return response
