"""A study's image bank: list its portraits, upload more with their manifest."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from survey.api.coordinator.scope import StudyScoped
from survey.api.errors import documented
from survey.image_bank import bank_import_uploads
from survey.models import Portrait


class PortraitSerializer(serializers.ModelSerializer):
    disorder = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = Portrait
        fields = [
            "id",
            "kind",
            "disorder",
            "content_hash",
            "used_in_training",
            "source",
            "checkpoint_id",
            "seed",
            "truncation",
            "width",
            "height",
            "byte_size",
            "created_at",
        ]


class UploadIn(serializers.Serializer):
    manifest = serializers.FileField(help_text="CSV with filename,disorder,kind[,used_in_training,source,...]")
    files = serializers.ListField(child=serializers.FileField(), help_text="The images the manifest names.")


class ImportOut(serializers.Serializer):
    imported = serializers.IntegerField()


class Portraits(StudyScoped):
    parser_classes = [MultiPartParser]

    serializer_class = PortraitSerializer

    @extend_schema(responses=documented({200: PortraitSerializer(many=True)}, 401, 403, 404))
    def get(self, request, slug: str):
        portraits = self.study().portraits.select_related("disorder").order_by("kind", "disorder__code", "id")
        kind = request.query_params.get("kind")
        if kind:
            portraits = portraits.filter(kind=kind)
        return self.paginated(portraits, PortraitSerializer)

    @extend_schema(
        request={"multipart/form-data": UploadIn}, responses=documented({201: ImportOut}, 400, 401, 403, 404)
    )
    def post(self, request, slug: str):
        """Upload portraits with their manifest; validated exactly like `manage.py import_images`."""
        study = self.study()
        data = UploadIn(data={"manifest": request.data.get("manifest"), "files": request.FILES.getlist("files")})
        data.is_valid(raise_exception=True)
        files = [(upload.name, upload.read()) for upload in data.validated_data["files"]]
        portraits = bank_import_uploads(study=study, manifest=data.validated_data["manifest"].read(), files=files)
        return Response(ImportOut({"imported": len(portraits)}).data, status=status.HTTP_201_CREATED)
