"""Top-level URL map: the participant flow at the root, the admin under /admin/, the REST API under /api/."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("survey.api.urls")),
    path("", include("survey.urls")),
]
