"""The one pipeline every portrait passes through before a participant can see it.

Real, synthetic and latent-average portraits leave here indistinguishable in everything but their
pixels: same size, mode, format and quality, no EXIF, ICC profile or other metadata.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

OUTPUT_FORMAT = "JPEG"
OUTPUT_CONTENT_TYPE = "image/jpeg"
OUTPUT_SUFFIX = ".jpg"
# Decompression bombs and absurd inputs are refused rather than resized.
MAX_INPUT_PIXELS = 40_000_000


class ImageRejected(ValueError):
    """The input is not an image the pipeline can use; the message says why."""


@dataclass(frozen=True)
class NormalisedImage:
    data: bytes
    content_hash: str
    width: int
    height: int

    @property
    def byte_size(self) -> int:
        return len(self.data)


def _center_square(image: Image.Image) -> Image.Image:
    side = min(image.size)
    left = (image.width - side) // 2
    top = (image.height - side) // 2
    return image.crop((left, top, left + side, top + side))


def normalise_image(image: Image.Image, *, size: int, quality: int) -> NormalisedImage:
    """Orientation applied, centre-cropped to a square, resized, RGB, re-encoded with no metadata."""
    image = ImageOps.exif_transpose(image)
    if image.mode != "RGB":
        # Transparency is flattened on white so a PNG with alpha does not turn black.
        if "A" in image.getbands() or image.mode == "P":
            rgba = image.convert("RGBA")
            background = Image.new("RGB", rgba.size, (255, 255, 255))
            background.paste(rgba, mask=rgba.getchannel("A"))
            image = background
        else:
            image = image.convert("RGB")
    image = _center_square(image).resize((size, size), Image.Resampling.LANCZOS)
    clean = Image.new("RGB", image.size)
    clean.paste(image)  # a fresh image carries no info dict, EXIF or ICC profile from the input
    buffer = io.BytesIO()
    clean.save(buffer, format=OUTPUT_FORMAT, quality=quality, progressive=False, subsampling=0)
    data = buffer.getvalue()
    return NormalisedImage(data, hashlib.sha256(data).hexdigest(), size, size)


def normalise_bytes(raw: bytes, *, size: int, quality: int) -> NormalisedImage:
    """Decode and normalise; an unreadable, truncated or oversized file raises ImageRejected (the caller
    says which file)."""
    try:
        with Image.open(io.BytesIO(raw)) as probe:
            probe.verify()  # catches truncated and corrupt files that open() alone accepts
        with Image.open(io.BytesIO(raw)) as image:
            if image.width * image.height > MAX_INPUT_PIXELS:
                raise ImageRejected(f"{image.width}x{image.height} pixels is more than the pipeline accepts")
            image.load()
            return normalise_image(image, size=size, quality=quality)
    except ImageRejected:
        raise
    except UnidentifiedImageError:
        raise ImageRejected("not a readable image (unknown format or corrupt header)") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise ImageRejected(f"not a readable image (truncated or corrupt: {error})") from None


def stored_path(root: Path, content_hash: str) -> Path:
    """Where a normalised image lives in a folder bank (survey/storage.py names it the same in any storage):
    sharded by the first two hex digits of its hash."""
    return root / content_hash[:2] / f"{content_hash}{OUTPUT_SUFFIX}"
