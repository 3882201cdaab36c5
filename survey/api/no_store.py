"""Participant API responses are never stored by a browser or a proxy: they carry the participant's portrait
URLs, the running clock and the session's state (the HTML views say the same with `never_cache`)."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.cache import add_never_cache_headers

PARTICIPANT_API_PREFIX = "/api/participant/"


class ParticipantApiNoStoreMiddleware:
    """`Cache-Control: no-store` (as `never_cache` sets it) on every response under /api/participant/,
    refusals and errors included."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        response = self.get_response(request)
        if request.path_info.startswith(PARTICIPANT_API_PREFIX):
            add_never_cache_headers(response)
        return response
