"""Tiny, randomly initialised models, one per vision-lab task, built on the spot (config ->
`save_pretrained`, with the image processor and, for CLIP, a byte-level tokenizer; for
generation a diffusers UNet and DDPM scheduler, as DDPMPipeline saves them): the lab's
pipelines run for real with no model hub; and `clip()`, a real video clip to give the video
task. For the tests and benchmarks/vision_speed.py.

    dirs = build_tiny_models(tmp_path)      # {"classification": "<dir>", ...}
    create_app({"VISION_MODELS": vision_config(dirs)})
"""
from __future__ import annotations

import io
from pathlib import Path

LABELS = ["cat", "dog", "car"]


def build_tiny_models(root: Path) -> dict[str, str]:
    """Save one tiny model per transformers task under `root`; their directories by task."""
    import torch
    from tokenizers.pre_tokenizers import ByteLevel
    from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel
    from transformers import (CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer, DPTConfig,
                              DPTForDepthEstimation, DPTImageProcessor, SegformerConfig,
                              SegformerForSemanticSegmentation, SegformerImageProcessor, Swin2SRConfig,
                              Swin2SRForImageSuperResolution, Swin2SRImageProcessor, VideoMAEConfig,
                              VideoMAEForVideoClassification, VideoMAEImageProcessor, ViTConfig,
                              ViTForImageClassification, ViTImageProcessor, YolosConfig, YolosForObjectDetection,
                              YolosImageProcessor)

    torch.manual_seed(0)
    labels = {"id2label": dict(enumerate(LABELS)), "label2id": {w: i for i, w in enumerate(LABELS)}}
    vit = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
    # A byte-level vocabulary and no merges: every character is a token, as CLIP's own
    # tokenizer does for text it has no merges for. Its ids fit a 516-entry embedding.
    chars = sorted(ByteLevel.alphabet())
    tokens = ["<|startoftext|>", "<|endoftext|>", *chars, *(c + "</w>" for c in chars)]
    vocab = {token: i for i, token in enumerate(tokens)}
    clip = CLIPConfig(
        text_config=dict(vocab_size=len(vocab), max_position_embeddings=77, bos_token_id=0, eos_token_id=1,
                         pad_token_id=1, projection_dim=16, **vit),
        vision_config=dict(image_size=32, patch_size=8, projection_dim=16, **vit), projection_dim=16)
    models = {
        "classification": (
            ViTForImageClassification(ViTConfig(image_size=32, patch_size=8, **vit, **labels)),
            ViTImageProcessor(size={"height": 32, "width": 32})),
        "detection": (
            YolosForObjectDetection(YolosConfig(image_size=[64, 64], patch_size=16, num_detection_tokens=5,
                                                **vit, **labels)),
            YolosImageProcessor(size={"shortest_edge": 64, "longest_edge": 96})),
        "segmentation": (
            SegformerForSemanticSegmentation(SegformerConfig(
                num_encoder_blocks=2, depths=[1, 1], sr_ratios=[2, 1], hidden_sizes=[8, 16], patch_sizes=[7, 3],
                strides=[4, 2], num_attention_heads=[1, 1], mlp_ratios=[2, 2], decoder_hidden_size=16, **labels)),
            SegformerImageProcessor(size={"height": 64, "width": 64})),
        "depth": (
            DPTForDepthEstimation(DPTConfig(
                image_size=32, patch_size=8, num_hidden_layers=4, hidden_size=32, num_attention_heads=2,
                intermediate_size=64, backbone_out_indices=[0, 1, 2, 3], neck_hidden_sizes=[8, 8, 16, 16],
                fusion_hidden_size=16, reassemble_factors=[4, 2, 1, 0.5], head_in_index=-1)),
            DPTImageProcessor(size={"height": 32, "width": 32})),
        "zero-shot": (
            CLIPModel(clip),
            CLIPProcessor(image_processor=CLIPImageProcessor(size={"shortest_edge": 32},
                                                             crop_size={"height": 32, "width": 32}),
                          tokenizer=CLIPTokenizer(vocab=vocab, merges=[]))),
        "video": (
            # Four frames in tubelets of two: VideoMAE's layout, its 16 frames made small.
            VideoMAEForVideoClassification(VideoMAEConfig(image_size=32, patch_size=8, num_frames=4, tubelet_size=2,
                                                          **vit, **labels)),
            VideoMAEImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})),
        "image-to-image": (
            # The lightweight models' upsampler: the classical ones' 64-channel convolutions took
            # 3 s of a 2-core CPU for a 512-pixel photo, more than all the rest of the model.
            Swin2SRForImageSuperResolution(Swin2SRConfig(image_size=32, embed_dim=16, depths=[1], num_heads=[2],
                                                         window_size=4, upscale=2, upsampler="pixelshuffledirect")),
            Swin2SRImageProcessor(pad_size=4)),
    }
    dirs = {}
    for task, (model, processor) in models.items():
        path = Path(root) / task
        model.save_pretrained(path)
        processor.save_pretrained(path)
        dirs[task] = str(path)
    # google/ddpm-cat-256's UNet (two resolutions, no attention) at 32 x 32, and its schedule.
    unet = UNet2DModel(sample_size=32, layers_per_block=1, block_out_channels=(8, 16), norm_num_groups=4,
                       down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"))
    dirs["generate"] = str(Path(root) / "generate")
    DDPMPipeline(unet=unet, scheduler=DDPMScheduler(num_train_timesteps=1000)).save_pretrained(dirs["generate"])
    return dirs


def vision_config(dirs: dict[str, str]) -> dict[str, list[str]]:
    """VISION_MODELS with the tiny model first (the default) for each of its tasks."""
    return {task: [path] for task, path in dirs.items()}


def clip(seconds: float = 2.0, fps: int = 15, size=(320, 240), codec: str = "libx264", fmt: str = "mp4") -> bytes:
    """A real clip: a camera panning across scikit-image's astronaut, left to right,
    encoded with PyAV."""
    import av
    from PIL import Image
    from skimage import data

    w, h = size
    source = Image.fromarray(data.astronaut()).resize((2 * w, 2 * h))  # the camera sees a quarter of it
    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        frames = round(seconds * fps)
        for i in range(frames):
            x = round(i * w / max(1, frames - 1))
            crop = source.crop((x, h // 2, x + w, h // 2 + h))
            for packet in stream.encode(av.VideoFrame.from_image(crop)):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue()
