"""Audits whether anything but the pixels could tell a real portrait from a synthetic one as delivered to
the browser: dimensions, format, mode, metadata, response headers, URL shape and byte sizes.

Images are read through the same response builder the participant view uses, so what is audited is what
is sent.

Beside those checks it measures how much the pixels themselves give away to cheap statistics (sharpness,
colour moments, JPEG length; `generator.reports.realism`, numpy and Pillow only, imported only when pixels are
measured, so the web process never loads any part of the generator). That is a warning, never a
difference: the pixels are the study's subject.
"""

from __future__ import annotations

import io
from collections import defaultdict
from dataclasses import dataclass, field

from django.http import Http404
from PIL import Image
from scipy import stats

from survey.delivery import image_response, pad_block
from survey.models import Portrait, PortraitKind, ShownImage, Study

# Headers that differ per response for reasons unrelated to the image (and identically for every kind).
VOLATILE_HEADERS = {"content-length", "expires", "date"}
KINDS_COMPARED = (PortraitKind.REAL, PortraitKind.SYNTHETIC, PortraitKind.LATENT_AVERAGE)


@dataclass(frozen=True)
class DeliveredImage:
    kind: str
    width: int
    height: int
    format: str
    mode: str
    metadata_keys: tuple[str, ...]
    headers: tuple[tuple[str, str], ...]
    byte_size: int


@dataclass
class LeakageReport:
    study: str
    counts: dict[str, int]
    differences: list[str] = field(default_factory=list)
    byte_sizes: dict[str, dict[str, float]] = field(default_factory=dict)
    byte_size_test: dict[str, float] | None = None  # Mann-Whitney U, real vs synthetic
    missing_files: int = 0
    realism: dict | None = None  # generator.reports.realism.RealismReport.to_dict(), real vs synthetic pixels
    warnings: list[str] = field(default_factory=list)  # reported, never a failure

    @property
    def clean(self) -> bool:
        return not self.differences and not self.missing_files


def deliver(portrait: Portrait) -> DeliveredImage | None:
    """What the participant view would send for this portrait; None if its file is missing."""
    delivered = _deliver_with_image(portrait, pad_block(portrait.study))
    return delivered[0] if delivered else None


def _deliver_with_image(portrait: Portrait, pad_to: int) -> tuple[DeliveredImage, Image.Image] | None:
    try:
        response = image_response(portrait.content_hash, pad_to=pad_to)
    except Http404:
        return None
    body = b"".join(response.streaming_content)
    if len(body) != int(response["Content-Length"]):
        raise AssertionError(
            f"portrait {portrait.pk}: Content-Length {response['Content-Length']} but {len(body)} bytes sent"
        )
    image = Image.open(io.BytesIO(body))
    headers = tuple(sorted((k.lower(), v) for k, v in response.items() if k.lower() not in VOLATILE_HEADERS))
    metadata = tuple(sorted(k for k in image.info if not k.startswith("jfif")))
    item = DeliveredImage(
        portrait.kind, image.width, image.height, image.format or "", image.mode, metadata, headers, len(body)
    )
    return item, image


def _realism():
    """generator.reports.realism, loaded when pixels are measured (the web process imports no part of generator)."""
    from generator.reports import realism

    return realism


def _pixel_statistics(portrait: Portrait, image) -> tuple[str, str, object]:
    return portrait.kind, portrait.disorder.code, _realism().features_of(image)


def _measure_pixels(pixels: list[tuple[str, str, object]], **options):
    """Real vs synthetic on cheap pixel statistics; None with fewer than two portraits of either kind."""
    real = [(group, f) for kind, group, f in pixels if kind == PortraitKind.REAL]
    synthetic = [(group, f) for kind, group, f in pixels if kind == PortraitKind.SYNTHETIC]
    if len(real) < 2 or len(synthetic) < 2:
        return None
    return _realism().measure_features(
        [f for _, f in real], [f for _, f in synthetic], [g for g, _ in real], [g for g, _ in synthetic], **options
    )


def _pixel_realism(pixels: list[tuple[str, str, object]], report: LeakageReport) -> None:
    """The pixel measure as a warning line (never a difference)."""
    result = _measure_pixels(pixels)
    if result is None:
        report.warnings.append("pixel statistics not measured: needs at least two real and two synthetic portraits")
        return
    report.realism = result.to_dict()
    report.warnings.append(result.summary())


def _compare_attribute(name: str, values: dict[str, set], report: LeakageReport) -> None:
    distinct = set().union(*values.values()) if values else set()
    if len(distinct) > 1:
        detail = "; ".join(f"{kind}: {sorted(map(str, v))[:5]}" for kind, v in sorted(values.items()))
        report.differences.append(f"{name} differs between kinds ({detail})")


def _url_shapes(study: Study) -> dict[str, set]:
    """Length and alphabet of the opaque tokens in image URLs, per kind."""
    shapes: dict[str, set] = defaultdict(set)
    for token, kind in ShownImage.objects.filter(session__study=study).values_list("token", "portrait__kind"):
        alphabet = "urlsafe-base64" if all(c.isalnum() or c in "-_" for c in token) else "other"
        shapes[kind].add((len(token), alphabet))
    return shapes


def _summarise(sizes: list[int]) -> dict[str, float]:
    ordered = sorted(sizes)
    return {
        "n": len(ordered),
        "min": ordered[0],
        "median": ordered[len(ordered) // 2],
        "max": ordered[-1],
        "mean": sum(ordered) / len(ordered),
    }


def audit_study(study: Study, *, with_pixels: bool = True) -> LeakageReport:
    delivered: list[DeliveredImage] = []
    pixels: list[tuple[str, str, object]] = []  # (kind, disorder, pixel statistics) of real and synthetic
    missing = 0
    portraits = study.portraits.filter(kind__in=KINDS_COMPARED).select_related("disorder")
    pad_to = pad_block(study)
    for portrait in portraits.order_by("kind", "content_hash"):
        found = _deliver_with_image(portrait, pad_to)
        if found is None:
            missing += 1
            continue
        item, image = found
        delivered.append(item)
        if with_pixels and item.kind in (PortraitKind.REAL, PortraitKind.SYNTHETIC):
            pixels.append(_pixel_statistics(portrait, image))
    counts = {kind: sum(1 for d in delivered if d.kind == kind) for kind in KINDS_COMPARED}
    report = LeakageReport(study=study.slug, counts=counts, missing_files=missing)
    if missing:
        report.differences.append(f"{missing} portrait(s) have no stored file and could not be audited")
    for attribute in ("width", "height", "format", "mode", "metadata_keys", "headers"):
        values: dict[str, set] = defaultdict(set)
        for item in delivered:
            values[item.kind].add(getattr(item, attribute))
        _compare_attribute(attribute, values, report)
    for kind, items in metadata_carriers(delivered).items():
        report.differences.append(f"{len(items)} {kind} image(s) carry metadata: {sorted(items)[:5]}")
    _compare_attribute("URL token shape", _url_shapes(study), report)

    sizes = {kind: [d.byte_size for d in delivered if d.kind == kind] for kind in KINDS_COMPARED}
    report.byte_sizes = {kind: _summarise(values) for kind, values in sizes.items() if values}
    real, synthetic = sizes[PortraitKind.REAL], sizes[PortraitKind.SYNTHETIC]
    if len(set(real) | set(synthetic)) == 1:
        report.byte_size_test = {"statistic": 0.0, "p_value": 1.0}  # every image the same size: nothing to test
    elif len(real) >= 2 and len(synthetic) >= 2:
        test = stats.mannwhitneyu(real, synthetic, alternative="two-sided")
        report.byte_size_test = {"statistic": float(test.statistic), "p_value": float(test.pvalue)}
        if test.pvalue < 0.05:
            report.differences.append(
                f"byte sizes of real and synthetic portraits differ (Mann-Whitney U p = {test.pvalue:.3g}): "
                "someone watching download sizes could guess the kind better than chance"
            )
    if with_pixels:
        _pixel_realism(pixels, report)
    return report


def study_pixel_realism(study: Study, *, permutations: int = 100) -> dict | None:
    """Only the pixel-statistics measure of a study's real and synthetic portraits (as delivered); None
    when there are fewer than two of either kind."""
    portraits = study.portraits.filter(kind__in=(PortraitKind.REAL, PortraitKind.SYNTHETIC)).select_related("disorder")
    pad_to = pad_block(study)
    pixels = [
        _pixel_statistics(portrait, found[1])
        for portrait in portraits.order_by("kind", "content_hash")
        if (found := _deliver_with_image(portrait, pad_to)) is not None
    ]
    result = _measure_pixels(pixels, permutations=permutations)
    return None if result is None else {"summary": result.summary(), **result.to_dict()}


def metadata_carriers(delivered: list[DeliveredImage]) -> dict[str, set[str]]:
    carriers: dict[str, set[str]] = defaultdict(set)
    for item in delivered:
        if item.metadata_keys:
            carriers[item.kind].update(item.metadata_keys)
    return carriers
