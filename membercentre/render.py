"""The member code drawn server-side as inline SVG: a QR code (segno) and a Code 128 barcode
(python-barcode computes the bars; drawn here as plain <rect>s, so the SVG carries no inline
style that the Content-Security-Policy would block). No image requests, nothing from a CDN."""

import logging

import segno
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

# python-barcode logs "Pillow not found" (INFO) when imported without Pillow: we draw the SVG
# ourselves and need no image writer, so the notice is kept off every command's output.
logging.getLogger("pyBarcode").setLevel(logging.WARNING)
import barcode  # noqa: E402


def qr_svg(code: str) -> SafeString:
    # segno writes a well-formed SVG from digits only (the code is 18 digits, checked upstream).
    svg = segno.make(code, error="m").svg_inline(scale=5, border=2, omitsize=True, svgclass="qr")
    return mark_safe(svg.replace("<svg ", '<svg role="img" aria-label="会员二维码" ', 1))  # noqa: S308


def barcode_svg(code: str, *, height: int = 60) -> SafeString:
    """Code 128 (python-barcode picks charset C for the digits: two digits per symbol)."""
    modules = barcode.get_barcode_class("code128")(code).build()[0]
    quiet = 10
    rects = []
    x = 0
    while x < len(modules):
        if modules[x] == "1":
            start = x
            while x < len(modules) and modules[x] == "1":
                x += 1
            rects.append(f'<rect x="{quiet + start}" y="0" width="{x - start}" height="{height}"/>')
        else:
            x += 1
    width = len(modules) + 2 * quiet
    return format_html(
        '<svg class="barcode" role="img" aria-label="会员条形码" viewBox="0 0 {} {}" preserveAspectRatio="none" '
        'xmlns="http://www.w3.org/2000/svg"><g fill="#000">{}</g></svg>',
        width,
        height,
        mark_safe("".join(rects)),  # noqa: S308 - numbers only
    )


def coupon_qr_svg(code: str) -> SafeString:
    """A coupon's code for the counter's scanner (generated codes: 16 symbols of 2-9 and A-Z)."""
    svg = segno.make(code, error="m").svg_inline(scale=4, border=2, omitsize=True, svgclass="qr")
    return mark_safe(svg.replace("<svg ", '<svg role="img" aria-label="优惠券二维码" ', 1))  # noqa: S308
