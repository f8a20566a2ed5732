"""Qwen2.5-VL as one retriever for text, code, images and image+text, mixed in one batch.

Following DSE (Ma et al., 2024), GME (Zhang et al., 2024) and jina-embeddings-v4, an image is one user
turn ``<|vision_start|><|image_pad|><|vision_end|>`` + a short instruction and the embedding is the last
token's final hidden state. Unlike them, unret packs text-only, image-only and image+text items into the
same forward pass: each row gets its own multimodal RoPE positions (``get_rope_index`` over that row's
``mm_token_type_ids``), so an item's vector does not depend on its batch-mates.

Images are resized once, here, to the processor's own ``smart_resize`` target inside ``min_pixels`` /
``max_pixels``, and the HF image processor only normalises and patchifies them (``do_resize=False``).
(qwen-vl-utils' ``fetch_image`` would resize a second time, and its ``smart_resize`` returns a zero width
for thin images such as 33×300 under small pixel budgets.)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from unret.backbones.base import Backbone
from unret.backbones.peft_adapter import load_model
from unret.backbones.pooling import POOLING_STRATEGIES, Pooling, normalize, pool
from unret.backbones.qwen_video import SETTINGS as VIDEO_SETTINGS
from unret.backbones.qwen_video import VideoSettings, video_inputs
from unret.backbones.recipes import choose_recipe
from unret.backbones.registry import register
from unret.backbones.tokenize import PromptTokenizer, pad_batch
from unret.install import vision_stack
from unret.items import Item
from unret.prompts import PromptSet

with vision_stack():  # a torchvision built for another torch fails here: say so, with the pip command
    from transformers import AutoModel, AutoProcessor
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize

DEFAULT_MAX_LENGTH = 8192
MAX_ASPECT_RATIO = 200  # transformers' smart_resize refuses images more elongated than this
_COUNTED = frozenset({"text", "code", "image", "image+text"})  # modalities token_counts knows the length of


def _padded_size(width: int, height: int) -> tuple[int, int]:
    """The size after padding the short side so that long / short <= MAX_ASPECT_RATIO."""
    if max(width, height) <= MAX_ASPECT_RATIO * min(width, height):
        return width, height
    short = -(-max(width, height) // MAX_ASPECT_RATIO)  # ceil
    return (width, short) if width > height else (short, height)


@register("qwen_vl", model_types=("qwen2_5_vl", "qwen2_vl", "qwen3_vl"))  # Qwen2-VL: GME, DSE
class QwenVLBackbone(Backbone):
    """Qwen2.5-VL encoder (``Qwen2_5_VLModel``); last-token pooling unless its recipe (a package) says mean / cls."""

    modalities = frozenset({"text", "code", "image", "image+text", "video"})

    def __init__(self, model, processor, prompts: str | PromptSet = "oneword", max_length: int | None = None,
                 min_pixels: int | None = None, max_pixels: int | None = None, padding_side: str = "left",
                 pooling: Pooling = "last", query_length: int | None = None, document_length: int | None = None,
                 **video: Any):
        super().__init__(prompts, max_length or DEFAULT_MAX_LENGTH, query_length, document_length)
        if pooling not in POOLING_STRATEGIES:
            raise ValueError(f"unknown pooling {pooling!r}; choose one of {POOLING_STRATEGIES}")
        self.pooling = pooling
        self.model = model
        self.processor = processor
        image_processor = processor.image_processor
        self.min_pixels = min_pixels or image_processor.size["shortest_edge"]
        self.max_pixels = max_pixels or image_processor.size["longest_edge"]
        if self.min_pixels > self.max_pixels:
            raise ValueError(f"min_pixels ({self.min_pixels}) must not exceed max_pixels ({self.max_pixels})")
        self.patch_size = image_processor.patch_size
        self.merge_size = image_processor.merge_size
        self.padding_side = padding_side
        tokenizer = processor.tokenizer
        # Qwen3-VL times a clip by "<t seconds>" text before each temporal patch, not by its mRoPE positions.
        self.timestamps = getattr(model.config, "model_type", "") == "qwen3_vl"
        vision_start = getattr(processor, "vision_start_token", "<|vision_start|>")
        vision_end = getattr(processor, "vision_end_token", "<|vision_end|>")
        self.prompt_tokenizer = PromptTokenizer(
            tokenizer,
            chat_renderer=processor.apply_chat_template,
            image_placeholder=f"{vision_start}{processor.image_token}{vision_end}",
            image_token=processor.image_token,
            video_placeholder=f"{vision_start}{processor.video_token}{vision_end}",
            video_token=processor.video_token,
            video_wrapper=(vision_start, vision_end) if self.timestamps else None,
        )
        self.image_token_id = processor.image_token_id
        self.video_token_id = processor.video_token_id
        self.video = VideoSettings.for_processor(processor.video_processor, **video)
        self.recipe: str | None = None

    @classmethod
    def from_pretrained(cls, name_or_path: str, prompts: str | PromptSet | None = None,
                        max_length: int | None = None, min_pixels: int | None = None,
                        max_pixels: int | None = None, padding_side: str | None = None,
                        dtype: torch.dtype | None = None, revision: str | None = None, recipe: str | None = None,
                        adapter: str | None = None, merge_adapter: bool = True, pooling: Pooling | None = None,
                        query_length: int | None = None, document_length: int | None = None,
                        **model_kwargs: Any) -> QwenVLBackbone:
        """Load a Qwen-VL checkpoint; prompts, pooling, padding and lengths come from its recipe unless given.

        ``recipe`` names a built-in recipe (docs/models.md); by default it is read from the checkpoint
        (:func:`unret.backbones.recipes.choose_recipe`). ``adapter`` is a PEFT adapter folder put on top.
        """
        from unret.backbones.registry import load_config

        video = {k: model_kwargs.pop(k) for k in VIDEO_SETTINGS if k in model_kwargs}
        chosen = choose_recipe(name_or_path, load_config(name_or_path, revision), True, recipe, revision,
                               vision=True, warn=prompts is None)
        # AutoModel maps hub ``…ForConditionalGeneration`` checkpoints to the bare encoder, dropping lm_head.
        model = load_model(AutoModel, name_or_path, adapter, merge_adapter, revision=revision, dtype=dtype,
                           **model_kwargs)
        processor = AutoProcessor.from_pretrained(name_or_path, revision=revision)
        backbone = cls(model, processor, prompts or chosen.prompts, max_length or chosen.max_length, min_pixels,
                       max_pixels, padding_side or chosen.padding_side or "left", pooling or chosen.pooling,
                       query_length or chosen.query_length, document_length or chosen.document_length, **video)
        backbone.recipe = recipe or chosen.name
        return backbone

    @property
    def dim(self) -> int:
        return self.model.config.text_config.hidden_size

    def vision_tower(self) -> torch.nn.Module:
        return self.model.visual

    def input_image(self, image: Image.Image) -> Image.Image:
        return self.resize(image)

    def target_size(self, width: int, height: int) -> tuple[int, int]:
        """Multiples of patch × merge size with min_pixels <= height × width <= max_pixels (after padding)."""
        width, height = _padded_size(width, height)
        factor = self.patch_size * self.merge_size
        new_h, new_w = smart_resize(height, width, factor=factor, min_pixels=self.min_pixels,
                                    max_pixels=self.max_pixels)
        if new_h * new_w > self.max_pixels:  # thin images: smart_resize keeps one factor per side and overshoots
            if new_h >= new_w:
                new_h = max(factor, self.max_pixels // new_w // factor * factor)
            else:
                new_w = max(factor, self.max_pixels // new_h // factor * factor)
        return new_w, new_h

    def resize(self, image: Image.Image) -> Image.Image:
        """Resize to :meth:`target_size`.

        Images more elongated than 200:1 (page dividers, 1-pixel rules) are first padded with white on
        their short side to 200:1, where Qwen's own preprocessing would refuse them. Large downscales
        first reduce by an integer factor (``reducing_gap=3``, indistinguishable from a plain bicubic
        resize and several times faster, as PIL's ``thumbnail`` does).
        """
        width, height = image.size
        padded = _padded_size(width, height)
        if padded != (width, height):
            canvas = Image.new("RGB", padded, (255, 255, 255))
            canvas.paste(image, ((padded[0] - width) // 2, (padded[1] - height) // 2))
            image = canvas
        target = self.target_size(width, height)
        if target == image.size:
            return image
        return image.resize(target, Image.Resampling.BICUBIC, reducing_gap=3.0)

    def prepare(self, items: Sequence[Item], role: str = "document", task: str | None = None,
                instruction: str | None = None, positions: Sequence[int] | None = None) -> dict[str, Any]:
        self.check_modalities(items, positions)
        items = self.load_images(items, positions)  # a no-op for items encode_items already loaded
        images = [item.image for item in items if item.has_image]
        batch, tokens_per_video = video_inputs(self.processor, items,
                                               positions if positions is not None else range(len(items)), self.video,
                                               timestamps=self.timestamps)
        tokens_per_image: list[int] = []
        if images:
            vision = self.processor.image_processor(images=images, do_resize=False, return_tensors="pt")
            batch["pixel_values"] = vision["pixel_values"]  # (total_patches, channels * patch_volume)
            batch["image_grid_thw"] = vision["image_grid_thw"]  # (num_images, 3)
            tokens_per_image = (vision["image_grid_thw"].prod(-1) // self.merge_size**2).tolist()
        layouts, image_tokens, image_iter, video_iter = [], [], iter(tokens_per_image), iter(tokens_per_video)
        for item in items:
            prompt = self.prompts.resolve(role, item.modality, task, instruction)
            layouts.append(self.prompt_tokenizer.layout(prompt, has_image=item.has_image,
                                                        has_text=item.text is not None, has_video=item.has_video))
            image_tokens.append(next(image_iter) if item.has_image else next(video_iter) if item.has_video else 0)
        sequences = self.prompt_tokenizer.encode_many(layouts, [item.text for item in items], image_tokens,
                                                      self.max_length_for(role))
        input_ids, attention_mask = pad_batch(sequences, self.processor.tokenizer.pad_token_id,
                                              self.padding_side)
        batch["input_ids"] = input_ids
        batch["attention_mask"] = attention_mask
        # text 0, image 1, video 2
        batch["mm_token_type_ids"] = (input_ids == self.image_token_id).long() + 2 * (input_ids == self.video_token_id)
        return batch

    def token_counts(self, items: Sequence[Item], role: str = "document", task: str | None = None,
                     instruction: str | None = None) -> list[int] | None:
        """Exact sequence lengths (an image's tokens follow from its size) for ``encode_items``' batching."""
        if any(item.modality not in _COUNTED or (item.has_image and item.size is None) for item in items):
            return None  # prepare() names a bad input; an image not yet opened has no size
        factor = self.patch_size * self.merge_size
        layouts, image_tokens = [], []
        for item in items:
            prompt = self.prompts.resolve(role, item.modality, task, instruction)
            layouts.append(self.prompt_tokenizer.layout(prompt, has_image=item.has_image,
                                                        has_text=item.text is not None))
            width, height = self.target_size(*item.size) if item.has_image else (0, 0)
            image_tokens.append((width // factor) * (height // factor))
        sequences = self.prompt_tokenizer.encode_many(layouts, [item.text for item in items], image_tokens,
                                                      self.max_length_for(role))
        return [len(ids) for ids in sequences]

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, mm_token_type_ids: torch.Tensor,
                pixel_values: torch.Tensor | None = None, image_grid_thw: torch.Tensor | None = None,
                pixel_values_videos: torch.Tensor | None = None, video_grid_thw: torch.Tensor | None = None,
                second_per_grid_ts: torch.Tensor | None = None, **_: Any) -> torch.Tensor:
        # Per-row 3-D positions for every batch, with or without images, so a text item's positions
        # (and vector) are the same alone, beside images, and under either padding side.
        position_ids, _ = self.model.get_rope_index(
            input_ids, mm_token_type_ids=mm_token_type_ids, image_grid_thw=image_grid_thw,
            video_grid_thw=video_grid_thw, second_per_grid_ts=second_per_grid_ts, attention_mask=attention_mask,
        )  # (3, batch_size, seq_len); a clip's temporal positions are spaced by its seconds per patch
        hidden = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            pixel_values=pixel_values,
            image_grid_thw=image_grid_thw,
            pixel_values_videos=pixel_values_videos,
            video_grid_thw=video_grid_thw,
            mm_token_type_ids=mm_token_type_ids,
            use_cache=False,
        ).last_hidden_state  # (batch_size, seq_len, hidden_size)
        return normalize(pool(hidden, attention_mask, self.pooling))

    def config(self) -> dict[str, Any]:
        return {**super().config(), "recipe": self.recipe, "min_pixels": self.min_pixels,
                "max_pixels": self.max_pixels, "padding_side": self.padding_side, "pooling": self.pooling,
                "query_length": self.query_length, "document_length": self.document_length, **self.video.config()}

    def save(self, path: str | Path) -> None:
        self.model.save_pretrained(path)
        self.processor.save_pretrained(path)
