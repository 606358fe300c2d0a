"""The partner API's JSON parser: DRF's, with a nesting-depth limit.

Python's json module recurses once per `[`/`{`; a body nested ~1,000 levels deep exhausts the
interpreter's recursion limit and DRF's parser, which only catches ValueError, let that
RecursionError become a 500. Here a body nested deeper than MAX_JSON_DEPTH is a 400
`json_too_deep` naming the limit, decided BEFORE json recurses, so the limit is one number and
not whatever stack depth the request happens to have left.

The check costs nothing measurable on the hot path (the order API): a body cannot nest deeper
than it has opening brackets, so the scan is skipped when `count("[") + count("{")` (two C
loops over the text) is within the limit. Otherwise strings (which may hold brackets) are
removed and the brackets kept, each with C-level str methods over the text, and
the innermost `[]`/`{}` pairs are removed one level per pass: at most MAX_JSON_DEPTH passes over
the brackets alone, each O(n) in C — a few milliseconds for a 4 MiB batch, microseconds for an
order.
"""

import codecs
import re
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser, get_encoding  # type: ignore[attr-defined]  # not in the stub
from rest_framework.utils import json

from .error_codes import api_error

# Deepest nesting a request body may have. The deepest input of the API (an order batch:
# {orders: [{items: [{...}]}]}) is 5 levels; 32 leaves room without inviting abuse.
MAX_JSON_DEPTH = 32

# Everything that is not a bracket, for str.translate (characters outside strings are ASCII in
# valid JSON; anything else is left for the parser to refuse).
_KEEP = frozenset("[]{}")
_NOT_BRACKETS = {code: None for code in range(128) if chr(code) not in _KEEP}
_INNERMOST = re.compile(r"\[\]|\{\}")


def json_depth_exceeds(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the JSON `text` nests arrays/objects more than `limit` levels deep. Malformed text
    that is not too deep answers False (the parser then says what is wrong with it)."""
    if text.count("[") + text.count("{") <= limit:
        return False
    # Strings out, by C-level str methods only (a regex over 3 MB of \uXXXX-escaped text took
    # 36 ms, these 15 ms; json.loads itself 10 ms): drop escaped backslashes, then escaped quotes
    # — in valid JSON, pairing backslashes from the left is exactly how escapes read — and every
    # quote left delimits a string, so the even pieces between quotes lie outside strings.
    unescaped = text.replace("\\\\", "").replace('\\"', "")
    brackets = "".join(unescaped.split('"')[::2]).translate(_NOT_BRACKETS)
    for _ in range(limit):
        if not brackets:
            return False
        # re.sub does not rescan what it produced, so one pass removes exactly one level.
        shallower = _INNERMOST.sub("", brackets)
        if len(shallower) == len(brackets):
            return False  # unbalanced or stray characters: malformed, not deep
        brackets = shallower
    return bool(brackets)


class DepthLimitedJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        parser_context = parser_context or {}
        encoding = get_encoding(parser_context)  # DRF's: text codecs only (no bz2_codec bombs)
        try:
            text = codecs.getreader(encoding)(stream).read()
        except ValueError as exc:  # UnicodeDecodeError
            raise ParseError(f"JSON parse error - {exc}") from exc
        if json_depth_exceeds(text):
            raise api_error("json_too_deep", status=400, limit=MAX_JSON_DEPTH)
        parse_constant = json.strict_constant if self.strict else None
        try:
            return json.loads(text, parse_constant=parse_constant)
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
        except RecursionError as exc:  # not reachable past the check above; never a 500 anyway
            raise api_error("json_too_deep", status=400, limit=MAX_JSON_DEPTH) from exc
