"""Where the image bank's files live: one Django storage (`STORAGES["image_bank"]`), read by delivery and
written by every import, so several web hosts can share one bank.

By default it is a folder of this host (`SURVEY_IMAGE_BANK_ROOT`); with `SURVEY_IMAGE_BANK_BUCKET` it is an
S3-compatible bucket through django-storages (config/settings.py). Files are named by the SHA-256 of their
bytes, sharded by its first two hex digits: the same name always holds the same bytes.
"""

from __future__ import annotations

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, Storage, storages
from django.utils.functional import cached_property

from survey.imaging import OUTPUT_SUFFIX, NormalisedImage


class ImageBankFileStorage(FileSystemStorage):
    """The embedded default: a folder, `settings.IMAGE_BANK_ROOT` unless a location is given, read when
    first needed and again whenever the setting changes (tests give each test its own folder)."""

    @cached_property
    def base_location(self):
        return self._value_or_setting(self._location, settings.IMAGE_BANK_ROOT)

    def _clear_cached_properties(self, setting, **kwargs):
        super()._clear_cached_properties(setting, **kwargs)
        if setting == "IMAGE_BANK_ROOT":
            self.__dict__.pop("base_location", None)
            self.__dict__.pop("location", None)


def bank_storage() -> Storage:
    return storages["image_bank"]


def stored_name(content_hash: str) -> str:
    """A normalised image's name in the bank's storage."""
    return f"{content_hash[:2]}/{content_hash}{OUTPUT_SUFFIX}"


def store(image: NormalisedImage) -> str:
    """Write a normalised image to the bank (nothing if it is there already); returns its name.

    Rows are created only after their file is stored, so no reader looks for a file being written. Two
    imports of the same portrait at once may both write: the same name holds the same bytes (object
    stores), or a folder keeps the first and the second copy is removed.
    """
    storage = bank_storage()
    name = stored_name(image.content_hash)
    if not storage.exists(name):
        saved = storage.save(name, ContentFile(image.data))
        if saved != name:  # a folder storage renames a file that appeared meanwhile: keep the first
            storage.delete(saved)
    return name
