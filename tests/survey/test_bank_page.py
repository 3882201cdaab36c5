"""A coordinator fills a study's image bank from the browser: manifest with a ZIP or picked files, all or nothing."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from survey.models import Portrait
from tests.survey.factories import StudyFactory
from tests.survey.test_api_coordinator import png

MANIFEST = "filename,disorder,kind,used_in_training\na.png,phx0,real,1\nb.png,phx1,synthetic,\n"


@pytest.fixture
def coordinator(disorders):
    user = get_user_model().objects.create_user("coord", is_staff=True)
    study = StudyFactory(slug="mine", disorders=disorders)
    study.coordinators.add(user)
    client = Client()
    client.force_login(user)
    return client


def zipped(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, body in files.items():
            archive.writestr(f"photos/{name}", body)  # a folder inside: flattened
    return buffer.getvalue()


def post(client, manifest: str, **files):
    url = reverse("survey:study-portraits", args=["mine"])
    return client.post(url, {"manifest": SimpleUploadedFile("manifest.csv", manifest.encode()), **files})


def test_a_manifest_with_a_zip_adds_every_portrait(coordinator, image_bank_root):
    response = post(
        coordinator, MANIFEST, archive=SimpleUploadedFile("bank.zip", zipped({"a.png": png(1), "b.png": png(2)}))
    )
    assert response.status_code == 302
    assert sorted(Portrait.objects.values_list("kind", flat=True)) == ["real", "synthetic"]
    page = coordinator.get(response.url)
    assert b"Added 2 portrait(s)" in page.content and b"real (training)" in page.content


def test_picked_files_work_too(coordinator, image_bank_root):
    response = post(
        coordinator, MANIFEST, images=[SimpleUploadedFile("a.png", png(1)), SimpleUploadedFile("b.png", png(2))]
    )
    assert response.status_code == 302 and Portrait.objects.count() == 2


def test_a_bad_manifest_is_refused_with_its_line_numbers_and_nothing_is_added(coordinator, image_bank_root):
    manifest = "filename,disorder,kind,used_in_training\na.png,phx0,real,1\nb.png,nosuch,real,maybe\n"
    response = post(
        coordinator, manifest, archive=SimpleUploadedFile("bank.zip", zipped({"a.png": png(1), "b.png": png(2)}))
    )
    assert response.status_code == 400 and b"Nothing was added" in response.content
    assert b"line 3 (b.png)" in response.content
    assert not Portrait.objects.exists()


def test_a_file_that_is_no_zip_says_so(coordinator, image_bank_root):
    response = post(coordinator, MANIFEST, archive=SimpleUploadedFile("bank.zip", b"not a zip"))
    assert response.status_code == 400 and b"bank.zip: is not a ZIP archive" in response.content


def test_another_coordinators_bank_page_is_not_found(coordinator, disorders):
    StudyFactory(slug="theirs", disorders=disorders)
    assert coordinator.get(reverse("survey:study-portraits", args=["theirs"])).status_code == 404


def test_the_page_says_whether_the_study_is_ready(coordinator):
    page = coordinator.get(reverse("survey:study-portraits", args=["mine"]))
    assert page.status_code == 200 and b"Not ready for sessions yet" in page.content
