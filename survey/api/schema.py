"""How the OpenAPI schema describes this API where drf-spectacular's defaults would not match what is sent."""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema


class SurveyAutoSchema(AutoSchema):
    """Lists are paginated only when read: a POST that creates several objects (invites) answers a plain
    array, so the schema names pagination for GET alone."""

    def _get_paginator(self):
        return super()._get_paginator() if self.method == "GET" else None
