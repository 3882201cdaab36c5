"""The API's JSON parser, bounded: a body too large or nested too deeply is refused with 400 before it is
parsed, instead of exhausting memory or Python's recursion limit (a 500).

Every API body is small and flat (the deepest, a study with its settings, has 2 levels), so the bounds are far
above any real request.
"""

from __future__ import annotations

import codecs
import re

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.utils import json

MAX_BYTES = 256 * 1024
MAX_DEPTH = 20

# A JSON string literal (escapes included); brackets inside strings do not nest anything.
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


def nesting_depth(text: str, limit: int) -> int:
    """How deeply the arrays and objects of `text` nest, counted up to `limit` + 1 (then it stops)."""
    depth = deepest = 0
    for match in _BRACKET.finditer(_STRING.sub('""', text)):
        if match.group() in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    break
        else:
            depth -= 1
    return deepest


class BoundedJSONParser(JSONParser):
    """DRF's JSONParser with a size and a nesting limit; both refusals are 400 with a message saying which."""

    max_bytes = MAX_BYTES
    max_depth = MAX_DEPTH

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        raw = stream.read(self.max_bytes + 1) if stream is not None else b""
        if len(raw) > self.max_bytes:
            raise ParseError(f"JSON body too large: at most {self.max_bytes} bytes are accepted.")
        try:
            text = codecs.decode(raw, encoding)
        except (LookupError, UnicodeDecodeError) as error:
            raise ParseError(f"JSON body is not valid {encoding}: {error}") from None
        if nesting_depth(text, self.max_depth) > self.max_depth:
            raise ParseError(f"JSON body nested too deeply: at most {self.max_depth} levels are accepted.")
        try:
            return json.loads(text, parse_constant=json.strict_constant if self.strict else None)
        except (ValueError, RecursionError) as error:
            raise ParseError(f"JSON parse error - {error}") from None
