"""A NUL character is never valid input here: no token, code or text of the platform holds one, and PostgreSQL
cannot store one (the driver raises, a 500). Requests carrying one in the URL or in a page's form are refused
with 400 before any view runs. API bodies are left to DRF, whose CharField refuses NUL with 400 already (and
reading an upload here would parse it before the API's own parsers)."""

from __future__ import annotations

from urllib.parse import unquote_plus

from django.http import HttpRequest, HttpResponseBadRequest, JsonResponse

FORM_CONTENT_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
MESSAGE = "NUL characters are not accepted."


def is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith("/api/")


def carries_nul(request: HttpRequest) -> bool:
    if "\x00" in request.path_info or "\x00" in unquote_plus(request.META.get("QUERY_STRING", "")):
        return True
    if request.method == "POST" and request.content_type in FORM_CONTENT_TYPES and not is_api(request):
        return any("\x00" in key or any("\x00" in value for value in values) for key, values in request.POST.lists())
    return False


class RejectNulMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        if carries_nul(request):
            if is_api(request):
                return JsonResponse({"error": "bad_request", "message": MESSAGE}, status=400)
            return HttpResponseBadRequest(MESSAGE, content_type="text/plain; charset=utf-8")
        return self.get_response(request)
