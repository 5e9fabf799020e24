"""Tiny, randomly initialised transformers models, one per vision-lab task, built on the
spot (config -> `save_pretrained`, with the image processor and, for CLIP, a byte-level
tokenizer): the pipelines run for real with no model hub. For the tests and
benchmarks/vision_speed.py.

    dirs = build_tiny_models(tmp_path)      # {"classification": "<dir>", ...}
    create_app({"VISION_MODELS": vision_config(dirs)})
"""
from __future__ import annotations

from pathlib import Path

LABELS = ["cat", "dog", "car"]


def build_tiny_models(root: Path) -> dict[str, str]:
    """Save one tiny model per transformers task under `root`; their directories by task."""
    import torch
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import (CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer, DPTConfig,
                              DPTForDepthEstimation, DPTImageProcessor, SegformerConfig,
                              SegformerForSemanticSegmentation, SegformerImageProcessor, ViTConfig,
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
    }
    dirs = {}
    for task, (model, processor) in models.items():
        path = Path(root) / task
        model.save_pretrained(path)
        processor.save_pretrained(path)
        dirs[task] = str(path)
    return dirs


def vision_config(dirs: dict[str, str]) -> dict[str, list[str]]:
    """VISION_MODELS with the tiny model first (the default) for each of its tasks."""
    return {task: [path] for task, path in dirs.items()}
