"""Uploaded video clips: bytes in, evenly spaced frames of bounded size out, or a
VisionError with a status and a message (never a stack trace).

Decoded from memory with PyAV (FFmpeg's libraries), in two passes: the first only reads
the container's packets (no decoding: a few KB can hold thousands of tiny frames) and
counts the frames; the second decodes and keeps KEPT_FRAMES of them, evenly spaced over
the clip, scaled down (a video model resamples its own count from these, tasks.py).
Refused: not a video (unknown bytes, a still image, sound only: 400), truncated or damaged
(400); longer than the limit, frames larger than the limit, more frames than the limit
(413), each read from the headers before anything is decoded and checked again while
decoding, since a header may understate them. The upload's byte limit is the request's
(routes.py). Messages are worded in the request's language (open_clip runs in its thread).
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
from flask_babel import gettext as _
from PIL import Image

from game.vision import VisionError

# Frames kept from a clip: 16 sampled from 64 evenly spaced are evenly spaced to within a
# frame of the clip's 1/64 (VideoMAE takes 16, X-CLIP and TimeSformer 8).
KEPT_FRAMES = 64
# Their shorter side at most this: above the 224 pixels the video models crop to.
FRAME_SHORT_SIDE = 256
# What FFmpeg calls a still image's container: the image2 demuxer and its "<codec>_pipe"s.
STILL_FORMATS = ("image2",)


@dataclass
class Clip:
    frames: list[Image.Image]  # RGB, evenly spaced over the clip, shorter side <= FRAME_SHORT_SIDE
    times: list[float]  # each frame's time in the clip, seconds
    duration: float  # seconds, the last frame's time
    decoded: int  # frames decoded
    width: int  # the video's own size
    height: int
    notes: list[str] = field(default_factory=list)

    def sample(self, count: int) -> tuple[list[Image.Image], list[float]]:
        """`count` of the kept frames, evenly spaced (repeated when the clip has fewer)."""
        idx = np.linspace(0, len(self.frames) - 1, count).round().astype(int)
        return [self.frames[i] for i in idx], [self.times[i] for i in idx]


def formats() -> str:
    return _("MP4, WebM, MOV or MKV")


def seconds_text(s: float) -> str:
    return _("%(n)s s", n=f"{s:.3g}") if s < 120 else _("%(n)s min", n=f"{s / 60:.3g}")


def open_clip(data: bytes, max_seconds: float, max_frames: int, max_pixels: int) -> Clip:
    """Decode an upload into a Clip; VisionError (400 or 413) for what cannot be one."""
    import av

    if not data:
        raise VisionError(400, _("no video: send a clip (%(formats)s) in the form field `video`", formats=formats()))
    try:
        container = av.open(io.BytesIO(data), mode="r")
    except av.FFmpegError:
        raise VisionError(400, _("this is not a video we can read: send a clip (%(formats)s)",
                                 formats=formats())) from None
    with container:
        if container.format.name in STILL_FORMATS or container.format.name.endswith("_pipe"):
            raise VisionError(400, _("this is a still image, not a video: send a clip (%(formats)s)",
                                     formats=formats()))
        if not container.streams.video:
            raise VisionError(400, _("this file has no pictures (sound only?): send a video clip"))
        stream = container.streams.video[0]
        check_size(stream.codec_context.width, stream.codec_context.height, max_pixels)
        stated = max(container.duration / 1e6 if container.duration else 0.0,
                     float(stream.duration * stream.time_base) if stream.duration and stream.time_base else 0.0)
        check_duration(stated, max_seconds)
        total = count_frames(container, stream, max_frames)
        if total == 0:
            raise VisionError(400, _("the video has no frames: is it truncated? Upload it again"))
        if stream.frames and total < stream.frames:
            raise VisionError(400, _("the video is truncated: its header says %(stated)s frames, the file holds "
                                     "%(found)s; upload it again", stated=stream.frames, found=total))
        return decode(container, stream, total, max_seconds, max_frames, max_pixels)


def check_size(width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise VisionError(413, _("the video is %(width)s × %(height)s pixels; the limit is %(limit)s pixels a frame "
                                 "(1080p): record at a lower resolution", width=width, height=height,
                                 limit=f"{max_pixels:,}"))


def check_duration(seconds: float, max_seconds: float) -> None:
    if seconds > max_seconds:
        raise VisionError(413, _("the video lasts %(length)s; the limit is %(limit)s: send a shorter clip",
                                 length=seconds_text(seconds), limit=seconds_text(max_seconds)))


def too_many_frames(max_frames: int) -> VisionError:
    return VisionError(413, _("the video has more than %(limit)s frames: send a shorter clip", limit=max_frames))


def count_frames(container, stream, max_frames: int) -> int:
    """The clip's frames, from its packets (read, not decoded); 413 beyond `max_frames`."""
    import av

    total = 0
    try:
        for packet in container.demux(stream):
            if packet.size:  # the demuxer ends with an empty packet
                total += 1
                if total > max_frames:
                    raise too_many_frames(max_frames)
    except av.FFmpegError as e:
        raise VisionError(400, _("the video is truncated or damaged (%(reason)s); upload it again",
                                 reason=e.strerror or type(e).__name__)) from None
    return total


def decode(container, stream, total: int, max_seconds: float, max_frames: int, max_pixels: int) -> Clip:
    import av

    wanted = set(np.linspace(0, total - 1, min(total, KEPT_FRAMES)).round().astype(int).tolist())
    frames, times, decoded, start, last = [], [], 0, None, 0.0
    container.seek(0)
    stream.thread_type = "AUTO"  # FFmpeg's own threads for the decoding
    try:
        for frame in container.decode(stream):
            decoded += 1
            if decoded > max_frames:
                raise too_many_frames(max_frames)
            check_size(frame.width, frame.height, max_pixels)  # a stream may change size midway
            t = float(frame.time) if frame.time is not None else (decoded - 1) / float(stream.average_rate or 30)
            start = t if start is None else start
            last = t - start
            check_duration(last, max_seconds)
            if decoded - 1 in wanted:
                frames.append(small(frame.to_image()))
                times.append(round(last, 3))
    except av.FFmpegError as e:
        if not frames:
            raise VisionError(400, _("the video is truncated or damaged (%(reason)s); upload it again",
                                     reason=e.strerror or type(e).__name__)) from None
        # Frames decoded before the damage: the model sees those, and the page says so.
        return Clip(frames, times, last, decoded, stream.codec_context.width, stream.codec_context.height,
                    [_("the video is damaged after %(length)s: the model sees what came before",
                       length=seconds_text(last))])
    if not frames:
        raise VisionError(400, _("the video has no frames: is it truncated? Upload it again"))
    return Clip(frames, times, last, decoded, stream.codec_context.width, stream.codec_context.height)


def small(img: Image.Image) -> Image.Image:
    """A frame with its shorter side at most FRAME_SHORT_SIDE, as RGB."""
    scale = FRAME_SHORT_SIDE / min(img.size)
    if scale < 1:
        img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))),
                         Image.Resampling.BILINEAR)
    return img.convert("RGB")
