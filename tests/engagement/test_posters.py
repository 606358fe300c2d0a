"""Share posters (crm.posters): a PNG WeChat can save and scan, the link as a QR code, the token
printed, Chinese words in a CJK font — and, on a server without one, still a poster (QR and token)
with a deploy-check warning instead of boxes or an error."""

import io

import pytest
from PIL import Image

from crm import posters
from crm.posters import Poster, poster_font_check, poster_png

# A drawn poster is kept in the cache, which without CACHE_URL is a database table.
pytestmark = pytest.mark.django_db

POSTER = Poster(
    brand="演示品牌",
    headline="邀请您加入会员",
    url="https://demo.example.com/m/i/abcDEF2345/",
    token="abcDEF2345",
    lines=("受邀入会并完成首次消费，即得 20 积分",),
    footer="张* 邀请您",
)


def _qr_area_dark_share(image: Image.Image) -> float:
    box = image.convert("L").crop((155, 420, 595, 860))
    pixels = list(box.get_flattened_data())
    return sum(1 for p in pixels if isinstance(p, int) and p < 128) / len(pixels)


def test_a_poster_is_a_phone_sized_png_with_the_qr_code():
    png = poster_png(POSTER)
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size == (posters.WIDTH, posters.HEIGHT)
    assert 0.25 < _qr_area_dark_share(image) < 0.75  # a QR code's modules, not a blank square
    # The coloured band carries the brand and headline in the CJK font.
    assert posters.poster_font_path() is not None
    band = image.convert("RGB").crop((0, 0, posters.WIDTH, 300))
    assert any(pixel == (255, 255, 255) for pixel in band.get_flattened_data())


def test_a_poster_encodes_its_link_exactly_as_segno_does():
    import segno

    qr = segno.make(POSTER.url, error="m")
    other = segno.make(POSTER.url + "x", error="m")
    assert poster_png(POSTER) != poster_png(Poster(**{**POSTER.__dict__, "url": POSTER.url + "x"}))
    assert qr.matrix != other.matrix


def test_without_a_cjk_font_the_poster_still_renders_and_the_deploy_check_warns(monkeypatch, settings):
    settings.POSTER_FONT = ""
    monkeypatch.setattr(posters, "poster_font_path", lambda: None)
    image = Image.open(io.BytesIO(poster_png(POSTER)))
    assert image.size == (posters.WIDTH, posters.HEIGHT) and _qr_area_dark_share(image) < 0.9
    [warning] = poster_font_check()
    assert warning.id == "posters.W001" and "fonts-noto-cjk" in warning.hint


def test_a_configured_font_wins_and_a_missing_one_falls_back(settings, tmp_path):
    found = posters.poster_font_path()
    settings.POSTER_FONT = str(tmp_path / "missing.ttf")
    posters.poster_font_path.cache_clear()
    try:
        assert posters.poster_font_path() == found  # logged, then the well-known paths
        settings.POSTER_FONT = found
        posters.poster_font_path.cache_clear()
        assert posters.poster_font_path() == found and poster_font_check() == []
    finally:
        posters.poster_font_path.cache_clear()
