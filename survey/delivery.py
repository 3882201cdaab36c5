"""How a stored portrait is sent to a browser: one response builder for every kind, audited by leakage.py."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.http import Http404, HttpResponse
from django.utils.cache import add_never_cache_headers

from survey.imaging import OUTPUT_CONTENT_TYPE, stored_path


def padded(data: bytes, block: int) -> bytes:
    """The JPEG followed by zero bytes up to a multiple of `block` (at least one block).

    How many bytes an image takes says something about its content (a smooth synthetic portrait
    compresses better than a photograph), and anyone watching the network or the developer tools sees it.
    Decoders stop at the JPEG's end-of-image marker, so the padding changes no pixel and adds no metadata.
    """
    if block <= 0:
        return data
    target = max(block, -(-len(data) // block) * block)
    return data + bytes(target - len(data))


def image_response(content_hash: str) -> HttpResponse:
    """The image's bytes with headers that are the same for every portrait (no file name, no caching).

    Plain bytes rather than FileResponse: that would name the stored file (its content hash) in a
    Content-Disposition header.
    """
    path = stored_path(Path(settings.IMAGE_BANK_ROOT), content_hash)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise Http404("No such image.") from None
    response = HttpResponse(padded(data, settings.SURVEY_IMAGE_PAD_BYTES), content_type=OUTPUT_CONTENT_TYPE)
    response["X-Content-Type-Options"] = "nosniff"
    add_never_cache_headers(response)
    return response
