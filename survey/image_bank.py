"""Writes to a study's image bank: a validated manifest import, and single generated portraits.

An import checks every row and every file before it writes anything; one bad row means nothing is
imported, and the error lists every problem with its file and manifest line.
"""

from __future__ import annotations

import csv
import io
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.db import transaction
from PIL import Image

from manifest import parse_training_flag
from survey.imaging import ImageRejected, NormalisedImage, normalise_bytes, normalise_image
from survey.models import Portrait, PortraitKind, Study
from survey.storage import store

REQUIRED_COLUMNS = ("filename", "disorder", "kind")


class ImportRejected(ValueError):
    """Nothing was imported; `problems` lists each one as 'manifest.csv line N (file.png): what'."""

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        super().__init__(f"{len(self.problems)} problem(s), nothing imported:\n" + "\n".join(self.problems))


@dataclass(frozen=True)
class ManifestRow:
    line: int
    filename: str
    disorder: str
    kind: str
    used_in_training: bool | None
    source: str
    checkpoint_id: str
    seed: int | None
    truncation: float | None


@dataclass(frozen=True)
class PreparedPortrait:
    row: ManifestRow
    image: NormalisedImage


def _parse_row(line: int, raw: dict[str, str], where: str, problems: list[str]) -> ManifestRow | None:
    def field(name: str) -> str:
        return (raw.get(name) or "").strip()

    here = f"{where} line {line} ({field('filename') or 'no filename'})"
    count_before = len(problems)
    for name in REQUIRED_COLUMNS:
        if not field(name):
            problems.append(f"{here}: column {name!r} is empty")
    kind = field("kind")
    if kind and kind not in PortraitKind.values:
        problems.append(f"{here}: kind {kind!r} is not one of {', '.join(PortraitKind.values)}")
    used: bool | None = None
    try:
        used = parse_training_flag(field("used_in_training"))
    except ValueError as error:
        problems.append(f"{here}: {error}")
    if kind == PortraitKind.REAL and not field("used_in_training"):
        problems.append(f"{here}: a real portrait needs used_in_training (1 or 0)")
    seed = truncation = None
    try:
        seed = int(field("seed")) if field("seed") else None
    except ValueError:
        problems.append(f"{here}: seed {field('seed')!r} is not a whole number")
    try:
        truncation = float(field("truncation")) if field("truncation") else None
    except ValueError:
        problems.append(f"{here}: truncation {field('truncation')!r} is not a number")
    if len(problems) > count_before:
        return None
    return ManifestRow(
        line=line,
        filename=field("filename"),
        disorder=field("disorder"),
        kind=kind,
        used_in_training=used,
        source=field("source"),
        checkpoint_id=field("checkpoint_id"),
        seed=seed,
        truncation=truncation,
    )


def manifest_read(path: Path) -> list[ManifestRow]:
    """Parse and check a manifest's columns and values (not yet its files)."""
    where = path.name
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            missing = [c for c in REQUIRED_COLUMNS if c not in header]
            if missing:
                raise ImportRejected(
                    [
                        f"{where} line 1: missing column(s) {', '.join(missing)}; "
                        f"the header must include {', '.join(REQUIRED_COLUMNS)}"
                    ]
                )
            problems: list[str] = []
            rows = [_parse_row(number, raw, where, problems) for number, raw in enumerate(reader, start=2)]
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise ImportRejected([f"{where}: cannot be read as a UTF-8 CSV file ({error})"]) from None
    if problems:
        raise ImportRejected(problems)
    if not rows:
        raise ImportRejected([f"{where}: has a header but no rows"])
    return [row for row in rows if row is not None]


def _prepare(study: Study, folder: Path, rows: Sequence[ManifestRow], where: str) -> list[PreparedPortrait]:
    known_disorders = set(study.disorders.values_list("code", flat=True))
    in_bank = set(study.portraits.values_list("content_hash", flat=True))
    first_line_of_hash: dict[str, int] = {}
    problems: list[str] = []
    prepared: list[PreparedPortrait] = []
    root = folder.resolve()
    for row in rows:
        here = f"{where} line {row.line} ({row.filename})"
        if row.disorder not in known_disorders:
            problems.append(
                f"{here}: disorder {row.disorder!r} is not one of study {study.slug!r}'s disorders "
                f"({', '.join(sorted(known_disorders)) or 'none yet'})"
            )
        path = (folder / row.filename).resolve()
        if not path.is_relative_to(root):
            problems.append(f"{here}: the file must lie inside {folder}")
            continue
        try:
            raw = path.read_bytes()
        except OSError as error:
            problems.append(f"{here}: cannot be read ({error.strerror or error})")
            continue
        try:
            image = normalise_bytes(raw, size=settings.SURVEY_IMAGE_SIZE, quality=settings.SURVEY_IMAGE_QUALITY)
        except ImageRejected as error:
            problems.append(f"{here}: {error}")
            continue
        if image.content_hash in first_line_of_hash:
            problems.append(f"{here}: same content as line {first_line_of_hash[image.content_hash]}")
        elif image.content_hash in in_bank:
            problems.append(f"{here}: this portrait is already in study {study.slug!r}'s bank")
        first_line_of_hash.setdefault(image.content_hash, row.line)
        prepared.append(PreparedPortrait(row, image))
    if problems:
        raise ImportRejected(problems)
    return prepared


def _portrait_fields(row: ManifestRow) -> dict:
    return {
        "kind": row.kind,
        "used_in_training": row.used_in_training if row.kind == PortraitKind.REAL else None,
        "source": row.source,
        "checkpoint_id": row.checkpoint_id,
        "seed": row.seed,
        "truncation": row.truncation,
        "original_name": row.filename,
    }


def bank_import(*, study: Study, folder: Path, manifest: Path) -> list[Portrait]:
    """Validate every row and file of the manifest, then store and record them all, or nothing."""
    rows = manifest_read(manifest)
    prepared = _prepare(study, folder, rows, manifest.name)
    disorders = {d.code: d for d in study.disorders.all()}
    for item in prepared:
        store(item.image)  # content-addressed, so a file left by a failed transaction is harmless
    with transaction.atomic():
        return Portrait.objects.bulk_create(
            Portrait(
                study=study,
                disorder=disorders[item.row.disorder],
                content_hash=item.image.content_hash,
                width=item.image.width,
                height=item.image.height,
                byte_size=item.image.byte_size,
                **_portrait_fields(item.row),
            )
            for item in prepared
        )


# A browser upload of a whole bank: generous for portraits, small enough to refuse a mistaken archive.
MAX_UPLOAD_FILES = 5000
MAX_ZIP_BYTES = 2 * 1024**3


def files_in_zip(data: bytes, *, name: str = "upload.zip") -> list[tuple[str, bytes]]:
    """The regular files of a ZIP archive as (base name, bytes); folders inside it are flattened, as a
    manifest names files without folders. A broken or oversized archive is refused with its name."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise ImportRejected([f"{name}: is not a ZIP archive"]) from None
    members = [m for m in archive.infolist() if not m.is_dir() and not PurePosixPath(m.filename).name.startswith(".")]
    if len(members) > MAX_UPLOAD_FILES or sum(m.file_size for m in members) > MAX_ZIP_BYTES:
        raise ImportRejected([f"{name}: holds more than {MAX_UPLOAD_FILES} files or 2 GiB; split it"])
    return [(PurePosixPath(m.filename).name, archive.read(m)) for m in members]


def bank_import_uploads(*, study: Study, manifest: bytes, files: Iterable[tuple[str, bytes]]) -> list[Portrait]:
    """An import from uploaded bytes (the browser page and the API): the manifest and its files go to a
    throwaway folder, then through `bank_import`, all or nothing. File names lose any folder part."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        seen: set[str] = set()
        for name, data in files:
            base = Path(name).name
            if not base or base in seen:
                raise ImportRejected([f"{base or name!r}: two uploaded files have this name"])
            seen.add(base)
            (root / base).write_bytes(data)
        manifest_path = root / "manifest.csv"
        if "manifest.csv" in seen:
            manifest_path = root / "_uploaded-manifest.csv"
        manifest_path.write_bytes(manifest)
        return bank_import(study=study, folder=root, manifest=manifest_path)


def portrait_add(
    *,
    study: Study,
    image: Image.Image,
    kind: str,
    disorder_code: str,
    used_in_training: bool | None = None,
    source: str = "",
    checkpoint_id: str = "",
    seed: int | None = None,
    truncation: float | None = None,
) -> Portrait:
    """Add one in-memory image (a generated portrait or latent average) through the same pipeline."""
    normalised = normalise_image(image, size=settings.SURVEY_IMAGE_SIZE, quality=settings.SURVEY_IMAGE_QUALITY)
    disorder = study.disorders.get(code=disorder_code)
    store(normalised)
    portrait, _ = Portrait.objects.get_or_create(
        study=study,
        content_hash=normalised.content_hash,
        defaults=dict(
            kind=kind,
            disorder=disorder,
            width=normalised.width,
            height=normalised.height,
            byte_size=normalised.byte_size,
            used_in_training=used_in_training if kind == PortraitKind.REAL else None,
            source=source,
            checkpoint_id=checkpoint_id,
            seed=seed,
            truncation=truncation,
        ),
    )
    return portrait
