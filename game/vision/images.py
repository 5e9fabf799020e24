"""Uploaded photos: bytes in, an upright RGB photo of bounded size out, or a VisionError
with a status and a message (never a stack trace).

Handled: EXIF orientation (a phone photo taken sideways is turned upright), every Pillow
mode (CMYK, 16-bit grey, palette, transparency) to 8-bit RGB, animated images (first
frame), big photos (scaled down; JPEGs decoded at reduced scale). Refused: not an image
(400), truncated or damaged (400), more pixels than the limit (413, a decompression bomb).
The upload's byte limit is the request's (routes.py). Messages and notes are worded in
the request's language (open_photo runs in the request's thread).
"""
from __future__ import annotations

import base64
import io
import warnings
from dataclasses import dataclass, field

import numpy as np
from flask_babel import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

from game.vision import VisionError

EXIF_ORIENTATION = 0x0112
# Modes whose pixels may be transparent; composited over white, as on paper.
ALPHA_MODES = {"RGBA", "RGBa", "LA", "La", "PA"}
SIXTEEN_BIT_MODES = {"I;16", "I;16L", "I;16B", "I;16N", "I"}


@dataclass
class Photo:
    image: Image.Image  # RGB, upright, longest side <= the lab's max side
    notes: list[str] = field(default_factory=list)  # what was done to it, for the page


def megapixels(pixels: int) -> str:
    return _("%(n)s megapixels", n=f"{pixels / 1e6:.3g}")


def formats() -> str:
    return _("JPEG, PNG, WebP or GIF")


def open_photo(data: bytes, max_pixels: int, max_side: int) -> Photo:
    """Decode an upload; raises VisionError (400 or 413) for what cannot be a photo."""
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
    except (OSError, SyntaxError, ValueError) as e:  # a header Pillow recognised but could not parse
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
    try:
        img.load()
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise VisionError(400, _("the image is truncated or damaged (%(reason)s); upload it again", reason=e)) from None
    orientation = img.getexif().get(EXIF_ORIENTATION, 1)
    if orientation in range(2, 9):
        img = ImageOps.exif_transpose(img)
        notes.append(_("turned upright as the camera's EXIF orientation says"))
    img = to_rgb(img)
    if max(img.size) > max_side:
        before = img.size
        img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS, reducing_gap=3.0)
        notes.append(_("scaled down from %(width)s × %(height)s to %(new_width)s × %(new_height)s pixels",
                       width=before[0], height=before[1], new_width=img.width, new_height=img.height))
    return Photo(img, notes)


def to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow image as 8-bit RGB: 16-bit values scaled down (Pillow's convert clips
    them at 255, turning all but the darkest pixels white), transparency over white
    (convert would show whatever colour hides under transparent pixels)."""
    if img.mode in SIXTEEN_BIT_MODES:
        grey = np.clip(np.asarray(img, dtype=np.int64), 0, 65535) // 257
        return Image.fromarray(grey.astype(np.uint8), "L").convert("RGB")
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
