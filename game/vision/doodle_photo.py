"""A photo of a pen drawing on paper -> the doodle classifier's input: a 28 x 28 bitmap in
the look of Google's numpy_bitmap (white strokes on black, drawn as game/model/ink.py draws).

1. grey, at most WORK_SIDE pixels a side;
2. divide by the paper's own brightness (the brightest pixel of each block, smoothed), so
   shadows and uneven light do not read as ink;
3. Otsu's threshold on that darkness (but at least MIN_DARKNESS): ink is what is clearly
   darker than its paper; lone specks are dropped;
4. crop to the ink's bounding box and place it as ink.render places a drawing: centred,
   the drawing 255 units across on a 256 + 2 * PAD unit square;
5. at ink.SUPERSAMPLE times 28 pixels, thicken or thin the strokes to ink.LINE_WIDTH
   (a fine pen on a big drawing would vanish at 28 pixels; a marker would fill it);
6. box-average down to 28 x 28, as ink.render does.

Not every photo is a drawing (a photo of an astronaut would otherwise come back as
"animal migration"), so before 4. the photo must look like pen lines on plain paper
(`check_drawing`, VisionError(422) otherwise):
- some ink (MIN_INK_PIXELS), but not much: lines cover a small part of the paper, while a
  photo's dark half, a silhouette or a texture cover a third of it and more (MAX_INK);
- plain paper between the lines: on the photo smoothed of its sensor noise, hardly any
  pixel away from the ink is darker than its paper (MAX_TONED), where a photo's shading
  and textures are everywhere. Measured on skimage.data's photos (astronaut, coffee,
  chelsea, camera: at least 13 % toned, 25 % inked) and on drawings photographed on tinted,
  grainy, shadowed, noisy paper (at most 6 % toned, 5 % inked): tests/test_vision.py.
"""
from __future__ import annotations

import numpy as np
# Lazy: this runs on the lab's worker threads, outside any request; the message is worded
# when shown, in the language of the request that waits for it.
from flask_babel import lazy_gettext as _
from PIL import Image, ImageFilter

from game.model import ink
from game.vision import VisionError

WORK_SIDE = 512
PAPER_BLOCKS = 16  # blocks across the longer side for the paper's brightness
MIN_DARKNESS = 0.15  # ink is at least this much darker than its paper (noise stays below)
MIN_INK_PIXELS = 30
MAX_INK = 0.2  # at most this share of the photo is ink
MAX_TONED = 0.1  # at most this share of the photo, away from the ink, is darker than its paper
TONE_DARKNESS = 0.1  # "darker than its paper", on the smoothed photo
TONE_BLUR = 2.0  # the smoothing (pixels at WORK_SIDE): sensor noise goes, shading stays
NEAR_INK = 9  # pixels around the ink (a square this wide) where a stroke's own blur is expected
CANVAS_UNITS = 256.0 + 2 * ink.PAD  # ink.render's canvas, in drawing units
SPAN_UNITS = 255.0  # a drawing's longer side, in drawing units


def work_grey(image: Image.Image) -> Image.Image:
    """The photo in grey, at most WORK_SIDE a side."""
    grey = image.convert("L")
    grey.thumbnail((WORK_SIDE, WORK_SIDE), Image.Resampling.BOX)
    return grey


def darkness(image: Image.Image) -> np.ndarray:
    """How much darker than its paper each pixel is, 0-1, at most WORK_SIDE a side."""
    grey = work_grey(image)
    g = np.asarray(grey, dtype=np.float32) / 255.0
    h, w = g.shape
    block = max(1, max(h, w) // PAPER_BLOCKS)
    hb, wb = -(-h // block), -(-w // block)
    padded = np.pad(g, ((0, hb * block - h), (0, wb * block - w)), mode="edge")
    # Ink is thinner than a block, so each block's brightest pixel is paper.
    paper = padded.reshape(hb, block, wb, block).max(axis=(1, 3))
    paper = Image.fromarray(np.rint(paper * 255).astype(np.uint8)).resize((w, h), Image.Resampling.BILINEAR)
    paper = np.asarray(paper.filter(ImageFilter.BoxBlur(block // 2)), dtype=np.float32) / 255.0
    return np.clip(1.0 - g / np.maximum(paper, 1e-3), 0.0, 1.0)


def otsu(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold of values in [0, 1]: the cut that best separates two classes."""
    hist, edges = np.histogram(values, bins=bins, range=(0.0, 1.0))
    p = hist.astype(np.float64) / max(1, hist.sum())
    centres = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(p)
    m0 = np.cumsum(p * centres)
    total = m0[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (total * w0 - m0) ** 2 / (w0 * (1.0 - w0))
    between[~np.isfinite(between)] = 0.0
    return float(edges[int(between.argmax()) + 1])


def ink_mask(image: Image.Image) -> np.ndarray:
    """Boolean mask of the ink, at most WORK_SIDE a side."""
    d = darkness(image)
    mask = d > max(otsu(d), MIN_DARKNESS)
    # A 3 x 3 median drops the specks of paper texture and sensor noise.
    cleaned = Image.fromarray(mask.astype(np.uint8) * 255).filter(ImageFilter.MedianFilter(3))
    return np.asarray(cleaned) > 127


def toned_away_from_ink(image: Image.Image, mask: np.ndarray) -> float:
    """The share of the photo that is darker than its paper (TONE_DARKNESS, once smoothed)
    but not within NEAR_INK of the ink: a photo's shading and textures, a drawing's nothing."""
    smooth = darkness(work_grey(image).filter(ImageFilter.GaussianBlur(TONE_BLUR)))
    near = Image.fromarray(mask.astype(np.uint8) * 255).filter(ImageFilter.MaxFilter(NEAR_INK))
    return float(((smooth > TONE_DARKNESS) & (np.asarray(near) < 128)).mean())


def check_drawing(image: Image.Image, mask: np.ndarray) -> None:
    """VisionError(422) unless the photo looks like dark pen lines on plain paper."""
    if mask.sum() < MIN_INK_PIXELS:
        raise VisionError(422, _("no drawing found: photograph a dark pen drawing on plain light paper, "
                                 "filling most of the frame"))
    if mask.mean() > MAX_INK:
        raise VisionError(422, _("no drawing found: too much of this photo is dark for pen lines on paper (is it "
                                 "a photo of something else?); photograph a dark pen drawing on plain light "
                                 "paper, filling most of the frame"))
    if toned_away_from_ink(image, mask) > MAX_TONED:
        raise VisionError(422, _("no drawing found: this photo has shades and textures, not pen lines on plain "
                                 "paper (is it a photo of something else?); photograph a dark pen drawing on "
                                 "plain light paper, filling most of the frame"))


def stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width of a binary drawing: area over half the boundary (a stroke of
    width w and length L has area wL and about 2L boundary pixels)."""
    m = np.pad(mask, 1)
    inner = m[1:-1, 1:-1]
    edge = inner & ~(m[:-2, 1:-1] & m[2:, 1:-1] & m[1:-1, :-2] & m[1:-1, 2:])
    return 2.0 * inner.sum() / max(1, edge.sum())


def photo_to_bitmap(image: Image.Image) -> np.ndarray:
    """A photo of a drawing -> uint8 (28, 28), white ink on black. Raises VisionError(422)
    when no drawing stands out from the paper, or the photo is not of pen lines on paper."""
    mask = ink_mask(image)
    check_drawing(image, mask)
    ys, xs = np.nonzero(mask)
    crop = mask[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    width = stroke_width(crop)
    # The drawing's extent is its strokes' centre lines: the ink's box less one stroke width.
    span = max(float(max(crop.shape)) - width, 1.0)
    side = int(np.ceil(span * CANVAS_UNITS / SPAN_UNITS))
    side = max(side, *crop.shape)
    canvas = np.zeros((side, side), dtype=np.uint8)
    top, left = (side - crop.shape[0]) // 2, (side - crop.shape[1]) // 2
    canvas[top:top + crop.shape[0], left:left + crop.shape[1]] = crop * np.uint8(255)

    n = ink.SIDE * ink.SUPERSAMPLE
    big = np.asarray(Image.fromarray(canvas).resize((n, n), Image.Resampling.BOX)) > 127
    target = ink.LINE_WIDTH * n / CANVAS_UNITS
    have = width * n / side
    grow = int(round(target - have))
    img = Image.fromarray(big.astype(np.uint8) * 255)
    if grow >= 2:
        img = img.filter(ImageFilter.MaxFilter(grow // 2 * 2 + 1))
    elif grow <= -2 and have > 2:
        img = img.filter(ImageFilter.MinFilter(min(-grow, int(have) - 1) // 2 * 2 + 1))
    return np.asarray(img.resize((ink.SIDE, ink.SIDE), Image.Resampling.BOX))
