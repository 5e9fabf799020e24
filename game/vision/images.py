"""Uploaded photos: bytes in, an upright RGB photo of bounded size out, or a VisionError
with a status and a message (never a stack trace).

Handled: EXIF orientation (a phone photo taken sideways is turned upright), every Pillow
mode (CMYK, 16-bit grey, palette, transparency) to 8-bit RGB, animated images (first
frame), big photos (scaled down; JPEGs decoded at reduced scale, others reduced in their
own mode before any conversion). Refused: not an image (400), truncated or damaged (400),
more pixels than the limit or more memory decoded than the limit (413, a decompression
bomb: both read from the header, before decoding). The upload's byte limit is the
request's, and how many photos decode at once the lab's (routes.py). Messages and notes
are worded in the request's language (open_photo runs in the request's thread).
"""
from __future__ import annotations

import base64
import io
import warnings
from dataclasses import dataclass, field

import numpy as np
from flask_babel import gettext as _
from PIL import Image, ImageMode, ImageOps, UnidentifiedImageError

from game.vision import VisionError

EXIF_ORIENTATION = 0x0112
# Modes whose pixels may be transparent; composited over white, as on paper.
ALPHA_MODES = {"RGBA", "RGBa", "LA", "La", "PA"}
SIXTEEN_BIT_MODES = {"I;16", "I;16L", "I;16B", "I;16N", "I"}
# A big image is reduced in its own mode to no less than this many times the lab's side
# before it is converted (to RGB: 4 bytes a pixel); the last step's LANCZOS keeps the quality.
REDUCING_GAP = 3


@dataclass
class Photo:
    image: Image.Image  # RGB, upright, longest side <= the lab's max side
    notes: list[str] = field(default_factory=list)  # what was done to it, for the page


def megapixels(pixels: int) -> str:
    return _("%(n)s megapixels", n=f"{pixels / 1e6:.3g}")


def formats() -> str:
    return _("JPEG, PNG, WebP or GIF")


def size_text(n: int) -> str:
    return f"{n / 2**20:.3g} MB" if n >= 2**20 else f"{n / 2**10:.3g} KB"


def decoded_bytes(img: Image.Image) -> int:
    """The memory Pillow takes to hold `img` decoded: a byte a pixel for 1-bit and 8-bit
    single-band modes (1, L, P), two for 16-bit grey, four for the rest (RGB is stored as 4)."""
    mode = ImageMode.getmode(img.mode)
    per_pixel = 4 if len(mode.bands) > 1 else int(mode.typestr[-1])
    return img.width * img.height * per_pixel


def open_photo(data: bytes, max_pixels: int, max_side: int, max_bytes: int) -> Photo:
    """Decode an upload; raises VisionError (400 or 413) for what cannot be a photo. At
    most `max_bytes` are decoded (a few tens of KB of PNG can say 8000 × 8000 16-bit grey:
    128 MB), and the conversions that follow work on the reduced image."""
    if not data:
        raise VisionError(400, _("no image: send a photo (%(formats)s) in the form field `image`", formats=formats()))
    try:
        with warnings.catch_warnings():
            # Pillow warns above its own limit and refuses above twice that; ours is checked below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:
        raise VisionError(413, _("the image has far more pixels than the limit, %(limit)s",
                                 limit=megapixels(max_pixels))) from None
    except UnidentifiedImageError:
        raise VisionError(400, _("this is not an image we can read: send a photo (%(formats)s)",
                                 formats=formats())) from None
    except (OSError, SyntaxError, ValueError) as e:  # a header Pillow recognized but could not parse
        raise VisionError(400, _("the image is damaged (%(reason)s)", reason=e)) from None
    width, height = img.size
    if width * height > max_pixels:
        raise VisionError(413, _("the image is %(width)s × %(height)s pixels (%(size)s); the limit is %(limit)s",
                                 width=width, height=height, size=megapixels(width * height),
                                 limit=megapixels(max_pixels)))
    notes = []
    frames = getattr(img, "n_frames", 1)
    if frames > 1:
        notes.append(_("an animated image of %(frames)s frames: the model sees the first one", frames=frames))
    if img.format == "JPEG":
        # Decode at 1/2, 1/4 or 1/8 scale when that still leaves max_side: a 12 MP phone
        # photo loads 4x faster in a quarter of the memory.
        img.draft("RGB", (max_side, max_side))
    # From the header (after draft: the size and mode the decoder will produce).
    if decoded_bytes(img) > max_bytes:
        raise VisionError(413, _("the image is %(width)s × %(height)s pixels of %(mode)s: decoded it would take "
                                 "%(size)s of memory, and the limit is %(limit)s; send a smaller image",
                                 width=width, height=height, mode=img.mode, size=size_text(decoded_bytes(img)),
                                 limit=size_text(max_bytes)))
    try:
        img.load()
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise VisionError(400, _("the image is truncated or damaged (%(reason)s); upload it again", reason=e)) from None
    orientation = img.getexif().get(EXIF_ORIENTATION, 1)
    if orientation in range(2, 9):
        img = ImageOps.exif_transpose(img)
        notes.append(_("turned upright as the camera's EXIF orientation says"))
    before = img.size
    img = to_rgb(reduce(img, max_side))
    if max(img.size) > max_side:
        img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS, reducing_gap=REDUCING_GAP)
    if img.size != before:
        notes.append(_("scaled down from %(width)s × %(height)s to %(new_width)s × %(new_height)s pixels",
                       width=before[0], height=before[1], new_width=img.width, new_height=img.height))
    return Photo(img, notes)


def reduce(img: Image.Image, max_side: int) -> Image.Image:
    """A big image made smaller in its own mode, to no less than REDUCING_GAP × max_side:
    converted first, an 8000 × 8000 1-bit PNG took 450 MB as RGB. Box averages where
    Pillow's reduce reads the mode; 1-bit and 16-bit become grey first (a byte a pixel, no
    more than they take), palette images keep their indices (which cannot be averaged)."""
    factor = max(img.size) // (REDUCING_GAP * max_side)
    if factor < 2:
        return img
    if img.mode in ("P", "PA"):
        return img.resize((-(-img.width // factor), -(-img.height // factor)), Image.Resampling.NEAREST)
    if img.mode == "1":
        img = img.convert("L")
    elif img.mode in SIXTEEN_BIT_MODES:
        img = to_grey(img)
    return img.reduce(factor)


def to_grey(img: Image.Image) -> Image.Image:
    """A 16-bit grey image (or Pillow's 32-bit "I") as 8-bit grey, its values scaled down
    (Pillow's convert clips them at 255, turning all but the darkest pixels white), at five
    bytes a pixel at most along the way: the 16-bit copy and the result."""
    values = np.asarray(img)
    if values.dtype.itemsize > 2:  # "I": 32-bit, clipped to 16 bits
        values = np.clip(values, 0, 65535)
    return Image.fromarray(np.floor_divide(values, 257, out=np.empty(values.shape, np.uint8), casting="unsafe"), "L")


def to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow image as 8-bit RGB: 16-bit values scaled down (to_grey), transparency
    over white (convert would show whatever colour hides under transparent pixels)."""
    if img.mode in SIXTEEN_BIT_MODES:
        return to_grey(img).convert("RGB")
    if img.mode in ALPHA_MODES or (img.mode in ("P", "L", "RGB") and "transparency" in img.info):
        rgba = img.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        paper.alpha_composite(rgba)
        return paper.convert("RGB")
    return img if img.mode == "RGB" else img.convert("RGB")


def data_url(img: Image.Image, fmt: str = "PNG", **params) -> str:
    """An image as a data: URL, for JSON the page draws directly."""
    buf = io.BytesIO()
    img.save(buf, fmt, **params)
    mime = "image/jpeg" if fmt == "JPEG" else f"image/{fmt.lower()}"
    return f"data:{mime};base64,{base64.b64encode(buf.getvalue()).decode('ascii')}"
