"""Share posters: a PNG a member can long-press and save in WeChat, carrying a link as a QR code.

One drawing for every poster in the product — a member's 邀请有礼 poster (engagement) and a staff
member's share poster (performance) — so it lives in the kernel, which both may import. It knows
nothing of referrals or staff: the caller gives the words and the link.

Why a PNG and not the page's SVG: WeChat's browser saves (长按保存) and recognises (长按识别) a QR
code only in a raster <img>; an inline SVG can be neither saved nor scanned from the chat.

THE FONT. Chinese needs a CJK font at drawing time. The poster looks for one, in this order:
`settings.POSTER_FONT` (a .ttf/.otf/.ttc path — set it where the image ships its own font), a few
well-known paths (Debian's fonts-noto-cjk, WenQuanYi), then fontconfig (`fc-list :lang=zh-cn`).
Debian's `fonts-noto-cjk` is what docs/deploy.md asks production to install (the test command
installs it too). A server with none still serves a poster rather than an error: the QR code, the
token in Latin letters and no Chinese words (Pillow's built-in font has no CJK glyphs and would
draw boxes), and `manage.py check --deploy` warns (posters.W001) so the operator learns of it
before a member does. Pillow (pinned in requirements.txt) draws; segno (pinned) makes the QR.
"""

import functools
import hashlib
import io
import logging
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import segno
from django.conf import settings
from django.core import checks
from django.core.cache import cache
from PIL import Image, ImageDraw, ImageFont

from crm.memos import memo_register

log = logging.getLogger(__name__)

WIDTH, HEIGHT = 750, 1200  # a phone screen's proportions at WeChat's 750-px design width
QR_SIZE = 440
KNOWN_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",  # Debian/Ubuntu fonts-noto-cjk
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",  # Arch, Alpine
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",  # Fedora
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",  # fonts-wqy-microhei
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
)


@dataclass(frozen=True)
class Poster:
    """What a poster says. `url` is what the QR code opens; `token` is printed under it (the short
    code a person can also type)."""

    brand: str  # 演示品牌
    headline: str  # 邀请您加入会员
    url: str
    token: str = ""
    lines: Sequence[str] = field(default_factory=tuple)  # 入会即得 50 积分 (wrapped to the width)
    caption: str = "长按识别二维码"
    footer: str = ""  # 张* 邀请您 / 导购 李*
    accent: str = "#b4232c"


@functools.cache
def poster_font_path() -> str | None:
    """The CJK font the posters draw with, or None (see the module's note). Looked up once per
    process; fontconfig is asked only when no configured or well-known path exists."""
    configured = getattr(settings, "POSTER_FONT", "") or ""
    if configured:
        if Path(configured).is_file():
            return configured
        log.warning("POSTER_FONT=%s does not exist; looking for a CJK font elsewhere", configured)
    for candidate in KNOWN_FONTS:
        if Path(candidate).is_file():
            return candidate
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return None
    try:
        found = subprocess.run(  # noqa: S603  (a fixed argument list, no shell)
            [fc_list, ":lang=zh-cn", "file"], capture_output=True, text=True, timeout=5, check=False
        ).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return None
    files = sorted(line.split(":", 1)[0].strip() for line in found if line.strip())
    # Prefer a sans regular face: posters are read at a glance.
    files.sort(key=lambda f: ("Sans" not in f, "Bold" in f or "Light" in f))
    return files[0] if files else None


_font_path_memo = poster_font_path  # the cached function itself, even while a test replaces the name


def _fonts_forget() -> None:
    _font_path_memo.cache_clear()
    _font.cache_clear()


memo_register("poster CJK font path and faces", _fonts_forget)


Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@functools.lru_cache(maxsize=16)
def _font(size: int) -> Font:
    # A CJK face is ~20 MB: opened once per size and process, not on every poster.
    path = poster_font_path()
    if path is not None:
        return ImageFont.truetype(path, size)
    return ImageFont.load_default(size)


def _wrap(draw: ImageDraw.ImageDraw, text: str, font: Font, width: int) -> list[str]:
    """Chinese wraps between any two characters; Latin words are not split when they fit."""
    lines: list[str] = []
    current = ""
    for char in text:
        if draw.textlength(current + char, font=font) > width and current:
            lines.append(current)
            current = char.lstrip()
        else:
            current += char
    if current:
        lines.append(current)
    return lines


def _centred(draw: ImageDraw.ImageDraw, y: int, text: str, font: Font, fill: str) -> int:
    """Draw `text` centred at `y`; return the y below it."""
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    draw.text(((WIDTH - (right - left)) / 2 - left, y - top), text, font=font, fill=fill)
    return y + int(bottom - top)


POSTER_CACHE_SECONDS = 24 * 3600


def poster_png(poster: Poster) -> bytes:
    """The poster as PNG bytes (≈ 30-60 KB): the brand on a coloured band, the headline and lines,
    the QR code, the caption and token, the footer. Drawing takes a few hundred ms of CPU, so the
    bytes are kept in the cache for a day under a digest of what the poster says (and the font):
    a member opening their invite page again gets them from there."""
    key = "poster:" + hashlib.sha256(repr((poster, poster_font_path())).encode()).hexdigest()
    png = cache.get(key)
    if not isinstance(png, bytes):
        png = _poster_draw(poster)
        cache.set(key, png, POSTER_CACHE_SECONDS)
    return png


def _poster_draw(poster: Poster) -> bytes:
    cjk = poster_font_path() is not None
    image = Image.new("RGB", (WIDTH, HEIGHT), "#ffffff")
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, WIDTH, 300), fill=poster.accent)
    y = 70
    if cjk:
        y = _centred(draw, y, poster.brand[:16], _font(44), "#ffffff") + 36
        for line in _wrap(draw, poster.headline, _font(56), WIDTH - 80)[:2]:
            y = _centred(draw, y, line, _font(56), "#ffffff") + 18
    y = 340
    if cjk:
        body = _font(32)
        for text in poster.lines:
            for line in _wrap(draw, text, body, WIDTH - 100)[:3]:
                y = _centred(draw, y, line, body, "#333333") + 14
    y = max(y + 24, 420) if cjk else 360
    qr = segno.make(poster.url, error="m")
    # The modules drawn as whole-pixel squares (a scanner wants crisp edges), border 2 modules.
    matrix = qr.matrix
    scale = max(QR_SIZE // (len(matrix) + 4), 1)
    side = (len(matrix) + 4) * scale
    left = (WIDTH - side) // 2
    draw.rectangle((left, y, left + side - 1, y + side - 1), fill="#ffffff")
    for row, modules in enumerate(matrix):
        for col, dark in enumerate(modules):
            if dark:
                x0, y0 = left + (col + 2) * scale, y + (row + 2) * scale
                draw.rectangle((x0, y0, x0 + scale - 1, y0 + scale - 1), fill="#000000")
    code_width = side
    y += code_width + 28
    if cjk:
        y = _centred(draw, y, poster.caption, _font(30), "#666666") + 16
    if poster.token:
        y = _centred(draw, y, poster.token, _font(34), "#111111") + 16
    if poster.footer and cjk:
        _centred(draw, HEIGHT - 80, poster.footer[:24], _font(28), "#999999")
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=6)  # optimize=True took 0.2 s for a few KB
    return out.getvalue()


def poster_font_check(app_configs: object = None, **kwargs: object) -> list[checks.CheckMessage]:
    """`check --deploy`: posters drawn without a CJK font carry no Chinese words."""
    if poster_font_path() is not None:
        return []
    return [
        checks.Warning(
            "No CJK font for share posters: they will show only the QR code and the token.",
            hint="Install Debian's fonts-noto-cjk (apt-get install fonts-noto-cjk) "
            "or set POSTER_FONT to a CJK .ttf/.ttc.",
            id="posters.W001",
        )
    ]
