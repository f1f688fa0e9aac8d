"""The picture a link to an order or a request shows when it is shared (its og:image): a 1200×630 PNG.

It says what the page says at a glance: who asks, for what, how much, how much friends have covered, the state,
and the page's QR code. The text is set in Noto Sans SC, which carries Chinese and Latin alike and comes from a
package (pylopdf-fonts-zh-cn) rather than the system, so a server with no fonts installed draws the same card.
Should that font be missing all the same (a broken install), Pillow's own font draws the Latin text and text it
cannot draw is left out: a Chinese title gives way to the amount alone, and this is logged once.
"""

from __future__ import annotations

import functools
import hashlib
import io
import logging
import threading
from dataclasses import dataclass
from enum import StrEnum

import segno
from PIL import Image, ImageDraw, ImageFont

log = logging.getLogger(__name__)

WIDTH, HEIGHT = 1200, 630
MARGIN = 64
QR_SIZE = 360
BAND_HEIGHT = 72
TEXT_WIDTH = WIDTH - 3 * MARGIN - QR_SIZE
# Raised when the drawing changes, so that a card drawn by the previous release is not taken for a new one.
DRAWING = "1"

INK = (17, 24, 39)
MUTED = (100, 110, 125)
PAPER = (255, 255, 255)
BAND = (245, 247, 250)
TRACK = (226, 232, 240)
STATE_COLOURS = {"paid": (22, 128, 61), "closed": (100, 110, 125), "open": (37, 99, 235)}
# Symbols Noto Sans SC lacks, drawn as one it has (Stars amounts end in ⭐).
STAND_INS = str.maketrans({"⭐": "★"})


class CardState(StrEnum):
    OPEN = "open"
    PAID = "paid"
    CLOSED = "closed"  # cancelled, expired, refunded: nothing more to pay


@dataclass(frozen=True, slots=True)
class Progress:
    """How much of a split request friends have covered."""

    covered_minor: int
    total_minor: int
    label: str  # "$5.00 of $12.50 paid, $7.50 left"


@dataclass(frozen=True, slots=True)
class CardFace:
    """Everything drawn on a card, already in the reader's language: two equal faces draw the same picture."""

    title: str
    amount: str
    shop: str
    status: str
    state: CardState
    link: str  # the page's address, drawn as a QR code
    headline: str = ""  # "Alice asks you to pay"; empty for an order
    progress: Progress | None = None

    @property
    def version(self) -> str:
        """Changes whenever the picture would: the cache's key and the image's ETag."""
        return hashlib.sha256(f"{DRAWING}{self!r}".encode()).hexdigest()[:20]


# -- fonts ------------------------------------------------------------------------------------------------


@functools.cache
def _font_path() -> str | None:
    try:
        # Imported here: an install without it still draws cards (see the module's docstring).
        import pylopdf_fonts_zh_cn

        path = pylopdf_fonts_zh_cn.sans_path()
        ImageFont.truetype(str(path), 12)
        return str(path)
    except Exception:  # a missing or unreadable font must not cost the card, only its Chinese
        log.warning("no CJK font for share cards (pylopdf-fonts-zh-cn): Chinese text is left off the cards")
        return None


# FreeType's faces are not safe to use from two threads at once, and cards are drawn in worker threads: each
# thread opens its own.
_thread_fonts = threading.local()
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


def _font(size: int) -> Font:
    path = _font_path()
    fonts: dict[tuple[str | None, int], Font] = _thread_fonts.__dict__.setdefault("fonts", {})
    font = fonts.get((path, size))
    if font is None:
        font = fonts[path, size] = ImageFont.truetype(path, size) if path else ImageFont.load_default(size)
    return font


def _glyph(char: str) -> bytes:
    image = Image.new("L", (48, 48))
    ImageDraw.Draw(image).text((0, 0), char, font=_font(24), fill=255)
    return image.tobytes()


@functools.cache
def _missing_glyph(path: str | None) -> bytes:
    # A code point no font has (plane 15 is private use): what the font draws for a character it lacks.
    return _glyph("\U000f0001")


@functools.lru_cache(maxsize=8192)
def _has_glyph(char: str, path: str | None) -> bool:
    if char.isspace():
        return True
    if path is None:
        return ord(char) < 0x250 or 0x2000 <= ord(char) < 0x20D0  # Latin, punctuation, currency signs
    return _glyph(char) != _missing_glyph(path)


def _drawable(char: str) -> bool:
    return _has_glyph(char, _font_path())


def drawable(text: str) -> str:
    """The text without what the font cannot draw (an emoji in a name), rather than boxes."""
    text = " ".join(text.translate(STAND_INS).split())
    return " ".join("".join(char for char in text if _drawable(char)).split())


def _whole_enough(text: str) -> bool:
    """Worth drawing: with the CJK font, whatever is left once an emoji is dropped; with Pillow's own font only
    text it can draw whole, as a title in pieces misleads (the amount below says enough)."""
    if _font_path() is None:
        return bool(text) and drawable(text) == " ".join(text.translate(STAND_INS).split())
    return bool(drawable(text))


# -- layout -----------------------------------------------------------------------------------------------


def _fits(draw: ImageDraw.ImageDraw, text: str, size: int, width: int) -> int:
    """The longest prefix of text (in characters) that is at most width pixels wide."""
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if draw.textlength(text[:middle], font=_font(size)) <= width:
            low = middle
        else:
            high = middle - 1
    return low


def wrap(draw: ImageDraw.ImageDraw, text: str, size: int, width: int, max_lines: int) -> list[str]:
    """Lines of at most width pixels, broken at a space where there is one (Chinese breaks anywhere), the last
    ending in … when the text is longer than max_lines."""
    lines: list[str] = []
    rest = text
    while rest and len(lines) < max_lines:
        cut = max(1, _fits(draw, rest, size, width))
        if cut < len(rest) and rest[cut] != " ":
            space = rest.rfind(" ", 0, cut)
            if space > 0:
                cut = space
        lines.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest and lines:
        last = lines[-1]
        while last and draw.textlength(last + "…", font=_font(size)) > width:
            last = last[:-1]
        lines[-1] = last.rstrip() + "…"
    return lines


def _qr(link: str) -> Image.Image:
    """The link's QR code, at most QR_SIZE wide, in whole pixels per module so that it scans."""
    code = segno.make(link, error="m")
    border = 2
    modules = code.symbol_size(scale=1, border=border)[0]
    buffer = io.BytesIO()
    code.save(buffer, kind="png", scale=max(1, QR_SIZE // modules), border=border)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def _text(draw: ImageDraw.ImageDraw, at: tuple[int, int], text: str, size: int, fill: tuple[int, int, int]) -> int:
    """Draws one line; returns the y below it."""
    draw.text(at, text, font=_font(size), fill=fill)
    return at[1] + round(size * 1.3)


def draw_card(face: CardFace) -> bytes:
    """The card as PNG bytes. CPU work of some tens of milliseconds: call it off the event loop."""
    image = Image.new("RGB", (WIDTH, HEIGHT), PAPER)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, HEIGHT - BAND_HEIGHT, WIDTH, HEIGHT), fill=BAND)
    colour = STATE_COLOURS[face.state]
    draw.rectangle((0, 0, WIDTH, 12), fill=colour)

    y = MARGIN
    y = _text(draw, (MARGIN, y), drawable(face.shop), 30, MUTED) + 8
    if _whole_enough(face.headline):
        y = _text(draw, (MARGIN, y), wrap(draw, drawable(face.headline), 34, TEXT_WIDTH, 1)[0], 34, INK)
    if _whole_enough(face.title):
        for line in wrap(draw, drawable(face.title), 52, TEXT_WIDTH, 2):
            y = _text(draw, (MARGIN, y), line, 52, INK)
    y = _text(draw, (MARGIN, y + 12), drawable(face.amount), 88, INK) + 8

    if face.progress is not None:
        progress = face.progress
        share = min(1.0, progress.covered_minor / max(1, progress.total_minor))
        draw.rounded_rectangle((MARGIN, y, MARGIN + TEXT_WIDTH, y + 22), radius=11, fill=TRACK)
        if share > 0:
            end = MARGIN + max(22, round(TEXT_WIDTH * share))
            draw.rounded_rectangle((MARGIN, y, end, y + 22), radius=11, fill=STATE_COLOURS["paid"])
        if _whole_enough(progress.label):
            label = wrap(draw, drawable(progress.label), 28, TEXT_WIDTH, 1)[0]
            y = _text(draw, (MARGIN, y + 32), label, 28, MUTED)

    # The state, and daifu's name, in the band at the foot, where no title or progress can reach them.
    status = drawable(face.status) if _whole_enough(face.status) else ""
    band = HEIGHT - BAND_HEIGHT
    if status:
        width = round(draw.textlength(status, font=_font(28)))
        draw.rounded_rectangle((MARGIN, band + 12, MARGIN + width + 40, band + 60), radius=24, fill=colour)
        draw.text((MARGIN + 20, band + 16), status, font=_font(28), fill=PAPER)
    signature = "daifu · 代付" if _font_path() else "daifu"
    right = WIDTH - MARGIN - round(draw.textlength(signature, font=_font(26)))
    draw.text((right, band + 20), signature, font=_font(26), fill=MUTED)
    qr = _qr(face.link)
    image.paste(qr, (WIDTH - MARGIN - (QR_SIZE + qr.width) // 2, (band - qr.height) // 2))

    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False, compress_level=6)
    return buffer.getvalue()
