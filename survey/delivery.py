"""How a stored portrait is sent to a browser: one response builder for every kind, audited by leakage.py.

How many bytes an image takes says something about its content (a smooth synthetic portrait compresses
better than a photograph), and anyone watching the network or the developer tools sees it. So every
portrait of a study goes out padded with zero bytes to one length: the study's largest portrait when its
bank was frozen (`Study.image_pad_bytes`, stored once), rounded up to `PAD_GRANULE`. That pads far less
than a fixed 64 KiB block while every response of a study's participants stays the same length.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.conf import settings
from django.db.models import Max
from django.http import Http404, StreamingHttpResponse
from django.utils.cache import add_never_cache_headers

from survey.imaging import OUTPUT_CONTENT_TYPE
from survey.models import Study
from survey.storage import bank_storage, stored_name

PAD_GRANULE = 1024  # a study's padded length is a whole number of KiB
CHUNK = 64 * 1024


def padded_length(size: int, block: int) -> int:
    """`size` rounded up to a multiple of `block` (at least one block); `size` itself when block is 0."""
    if block <= 0:
        return size
    return max(block, -(-size // block) * block)


def padded(data: bytes, block: int) -> bytes:
    """The JPEG followed by zero bytes up to a multiple of `block` (at least one block).

    Decoders stop at the JPEG's end-of-image marker, so the padding changes no pixel and adds no metadata.
    """
    return data + bytes(padded_length(len(data), block) - len(data))


def bank_pad_bytes(study: Study) -> int:
    """The length every portrait of the study's bank fits in: its largest, rounded up to PAD_GRANULE
    (PAD_GRANULE for an empty bank). Computed when the bank is frozen; portraits added later are never
    shown to participants, and one larger than this is padded to a multiple of it."""
    largest = study.portraits.aggregate(largest=Max("byte_size"))["largest"] or 0
    return padded_length(largest, PAD_GRANULE)


def pad_block(study: Study) -> int:
    """How this study's portraits are padded: the deployment's fixed block if SURVEY_IMAGE_PAD_BYTES is a
    number (0: no padding), otherwise the study's stored length, or its bank's as it is now before the
    freeze (the leak audit and coordinators' previews of a bank still being filled)."""
    fixed = settings.SURVEY_IMAGE_PAD_BYTES
    if fixed is not None:
        return fixed
    return study.image_pad_bytes or bank_pad_bytes(study)


def pad_block_of(study_id: int, stored: int | None) -> int:
    """`pad_block` from a study's id and stored length, fetching the study only when it has none yet."""
    if settings.SURVEY_IMAGE_PAD_BYTES is not None:
        return settings.SURVEY_IMAGE_PAD_BYTES
    return stored or bank_pad_bytes(Study.objects.get(pk=study_id))


def _body(stored, padding: int) -> Iterator[bytes]:
    """The stored bytes, streamed, then the padding; the file is closed however the response ends."""
    try:
        source = stored.obj.get()["Body"] if hasattr(stored, "obj") else stored  # S3: one streaming GET
        while chunk := source.read(CHUNK):
            yield chunk
        while padding > 0:
            yield bytes(min(padding, CHUNK))
            padding -= CHUNK
    finally:
        stored.close()


def image_response(content_hash: str, *, pad_to: int) -> StreamingHttpResponse:
    """The image's bytes, padded to a multiple of `pad_to` (`pad_block(study)`), with headers that are the
    same for every portrait (no file name, no caching), streamed from the bank's storage.

    Not FileResponse: that would name the stored file (its content hash) in a Content-Disposition header,
    and the padding rules out sendfile anyway.
    """
    try:
        stored = bank_storage().open(stored_name(content_hash), "rb")
    except FileNotFoundError:
        raise Http404("No such image.") from None
    size = stored.size
    total = padded_length(size, pad_to)
    response = StreamingHttpResponse(_body(stored, total - size), content_type=OUTPUT_CONTENT_TYPE)
    response["Content-Length"] = str(total)
    response["X-Content-Type-Options"] = "nosniff"
    add_never_cache_headers(response)
    return response
