"""Photos and uploads for the vision lab's tests and benchmarks: a smooth photo-like image,
a drawing on paper as a phone photographs it, PNG files of any size built by hand, and the
API's upload and data-URL helpers. The tiny models are tests/vision_models.py's; their
fixtures (tiny_models, empty_cache) are conftest.py's."""
from __future__ import annotations

import base64
import io
import struct
import zlib

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

NOT_CACHED = "doodle-lab-tests/not-a-cached-model"  # a model id that is never downloaded


def encode(img: Image.Image, fmt: str = "PNG", **params) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **params)
    return buf.getvalue()


def photo(size=(1024, 768), seed=0) -> Image.Image:
    """A smooth, photo-like test image: gradients and a few shapes."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    arr = np.stack([255 * xx / w, 255 * yy / h, 128 + 0 * xx], -1).astype(np.uint8)
    img = Image.fromarray(arr)
    draw = ImageDraw.Draw(img)
    rng = np.random.default_rng(seed)
    for _ in range(5):
        x, y = rng.integers(0, w - 100), rng.integers(0, h - 100)
        draw.ellipse((x, y, x + 100, y + 80), fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
    return img


def post(client, task, data: bytes, filename="photo.png", **fields):
    return client.post(f"/api/vision/{task}", data={"image": (io.BytesIO(data), filename), **fields})


def decode_data_url(url: str) -> Image.Image:
    head, b64 = url.split(",", 1)
    assert head.startswith("data:image/")
    return Image.open(io.BytesIO(base64.b64decode(b64)))



def paper_photo(strokes, size=(1024, 768), pen=6, seed=0) -> Image.Image:
    """A drawing (0-255 strokes) in dark ink on light, slightly noisy, unevenly lit paper."""
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    light = 238 - 70 * (xx / w) * (yy / h)  # a shadow towards one corner
    paper = np.stack([light, light * 0.97, light * 0.9], -1) + rng.normal(0, 6, (h, w, 3))
    img = Image.fromarray(np.clip(paper, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    scale = min(w, h) * 0.7 / 255
    ox, oy = (w - 255 * scale) / 2, (h - 255 * scale) / 2
    for xs, ys, *_ in strokes:
        pts = [(ox + x * scale, oy + y * scale) for x, y in zip(xs, ys)]
        draw.line(pts, fill=(35, 35, 60), width=pen, joint="curve")
    return img.filter(ImageFilter.GaussianBlur(1))



def phone_photo_of(strokes, size=(1024, 768), pen=6, seed=0, tint=(1.0, 0.96, 0.86), ink=(40, 40, 70),
                   noise=10.0, blur=1.5, shadow=0.45, quality=70) -> Image.Image:
    """A drawing as a phone photographs it: tinted, grainy paper, lit unevenly (a shadow
    towards one corner, darker edges, the phone's soft shadow on one side), sensor noise,
    a little out of focus, JPEG."""
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    light = 235 * (1 - shadow * (xx / w) * (yy / h))
    light *= 1 - 0.25 * np.clip(np.hypot(2 * xx / w - 1, 2 * yy / h - 1) - 0.5, 0, None)  # vignetting
    light *= 1 - 0.25 * np.exp(-(((xx - 0.85 * w) / (0.2 * w)) ** 2 + ((yy - 0.2 * h) / (0.3 * h)) ** 2))
    grain = np.asarray(Image.fromarray(rng.normal(0, 1, (h // 4, w // 4)).astype(np.float32), "F")
                       .resize((w, h), Image.Resampling.BICUBIC))
    paper = np.stack([light * c for c in tint], -1) * (1 + 0.02 * grain[..., None]) + rng.normal(0, noise, (h, w, 3))
    img = Image.fromarray(np.clip(paper, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    scale = min(w, h) * 0.7 / 255
    ox, oy = (w - 255 * scale) / 2, (h - 255 * scale) / 2
    for xs, ys, *_ in strokes:
        draw.line([(ox + x * scale, oy + y * scale) for x, y in zip(xs, ys)], fill=ink, width=pen, joint="curve")
    return Image.open(io.BytesIO(encode(img.filter(ImageFilter.GaussianBlur(blur)), "JPEG", quality=quality)))


# A face: a circle, two eyes, a smile (0-255 drawing units).
FACE = [[[128 + 120 * np.cos(t) for t in np.linspace(0, 2 * np.pi, 48)],
         [128 + 120 * np.sin(t) for t in np.linspace(0, 2 * np.pi, 48)]],
        [[85, 95], [90, 90]], [[160, 170], [90, 90]],
        [[128 + 60 * np.cos(t) for t in np.linspace(0.2, np.pi - 0.2, 16)],
         [140 + 50 * np.sin(t) for t in np.linspace(0.2, np.pi - 0.2, 16)]]]


def png_file(width: int, height: int, bit_depth: int, colour_type: int, idat: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def blank_grey_png(width: int, height: int, bit_depth: int) -> bytes:
    """A black grey PNG of any size and depth (1 to 16 bits), compressed row by row: a file
    of a few hundred KB at most, however much it takes decoded."""
    row = bytes(1 + -(-width * bit_depth // 8))  # the filter byte, then the packed pixels
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    return png_file(width, height, bit_depth, 0, idat)
