"""The LightningModule that fine-tunes any unret backbone with any `RetrievalLoss` (InfoNCE, distillation…).

Lightning is the distributed engine: the same module runs on one CPU, one GPU or many nodes by changing
``trainer.strategy`` / ``trainer.devices`` / ``trainer.num_nodes``; in-batch negatives are gathered across
ranks by the loss. The module embeds each batch into one layout (queries, candidate slots, mask) and hands it
to the loss; it never asks which loss it runs, and the data module lays batches out as the loss declares
(`BatchNeeds`). At the end of ``fit`` the model is exported (LoRA merged into the weights) as a folder
that ``UnifiedRetriever.from_pretrained`` loads.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch import Tensor

from unret.backbones import Backbone, FusedBackbone, load_backbone
from unret.training.losses import RetrievalLoss, build_loss

log = logging.getLogger(__name__)

LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def apply_lora(backbone: Backbone, r: int, alpha: int, dropout: float, targets: list[str] | None,
               language_model_only: bool) -> None:
    """Wrap the backbone's transformer in peft LoRA adapters (the base weights are frozen).

    With ``language_model_only`` (Qwen2.5-VL with a frozen vision tower) the adapters are limited to the
    language model: the vision blocks share the ``gate_proj/up_proj/down_proj`` names.
    """
    from peft import LoraConfig, get_peft_model

    names = list(targets or LORA_TARGETS)
    target: list[str] | str = names
    if language_model_only:
        target = rf".*language_model.*\.({'|'.join(names)})"
    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=target, bias="none")
    backbone.model = get_peft_model(backbone.model, config)


class RetrieverModule(L.LightningModule):
    """Fine-tunes a retriever.

    Args:
        model: hub name or local folder of the backbone (``unret-testing/…`` for the tiny offline ones).
        loss: ``infonce`` (contrastive, in-batch + hard negatives), ``distill`` (listwise distillation; the
            data then needs teacher scores), another name registered with
            ``unret.training.losses.register_loss``, or a `RetrievalLoss` instance. It also decides how
            the data module lays out batches, so there is no separate data mode to match.
        temperature: InfoNCE temperature τ (RepLLaMA: 0.01).
        teacher_temperature: listwise distillation: temperature of the teacher's softmax (0.3).
        student_temperature: listwise distillation: temperature of the student's softmax (0.05).
        infonce_weight: listwise distillation: weight of its InfoNCE term (0.1).
        false_negative_ratio: listwise distillation: candidates above this × the teacher's top score are
            masked out of the InfoNCE term as likely false negatives (0.6).
        single_temperature: one temperature for teacher and student (Tevatron-style KL) instead.
        lora: train LoRA adapters (``lora_r``, ``lora_alpha``, ``lora_dropout``, ``lora_target_modules``)
            instead of all weights.
        gradient_checkpointing: trade compute for activation memory.
        freeze_vision: keep the Qwen2.5-VL vision tower frozen (the default, as in DSE/GME).
        export_dir: where the merged model is written at the end of ``fit`` (default:
            ``<trainer.default_root_dir>/retriever``).
        fuse_with: a second backbone (typically a coder) fused with ``model`` (typically Qwen2.5-VL)
            through a ``fusion_head`` (``concat`` | ``gated`` | ``weighted``) of ``fusion_dim`` outputs; the
            backbones stay frozen (their vectors cached per item, optionally on disk in
            ``embedding_cache_dir``) unless ``train_backbones``, and then LoRA/checkpointing apply to both.
    """

    def __init__(
        self,
        model: str,
        kind: str | None = None,
        prompts: str | None = None,
        pooling: str | None = None,
        max_length: int | None = None,
        loss: str | RetrievalLoss = "infonce",
        temperature: float = 0.01,
        gather_across_devices: bool = True,
        teacher_temperature: float = 0.3,
        student_temperature: float = 0.05,
        infonce_weight: float = 0.1,
        false_negative_ratio: float = 0.6,
        single_temperature: float | None = None,
        lora: bool = False,
        lora_r: int = 32,
        lora_alpha: int = 64,
        lora_dropout: float = 0.1,
        lora_target_modules: list[str] | None = None,
        gradient_checkpointing: bool = False,
        freeze_vision: bool = True,
        learning_rate: float = 1e-4,
        weight_decay: float = 0.01,
        warmup_ratio: float = 0.1,
        export_dir: str | None = None,
        backbone_kwargs: dict[str, Any] | None = None,
        fuse_with: str | None = None,
        fusion_head: str = "gated",
        fusion_dim: int | None = None,
        train_backbones: bool = False,
        embedding_cache_dir: str | None = None,
        fuse_with_kwargs: dict[str, Any] | None = None,
    ):
        super().__init__()
        self.save_hyperparameters(ignore=["loss"] if isinstance(loss, RetrievalLoss) else None)
        self.loss = build_loss(
            loss, temperature=temperature, gather_across_devices=gather_across_devices,
            teacher_temperature=teacher_temperature, student_temperature=student_temperature,
            infonce_weight=infonce_weight, false_negative_ratio=false_negative_ratio,
            single_temperature=single_temperature,
        )
        kwargs = {k: v for k, v in dict(prompts=prompts, pooling=pooling, max_length=max_length).items()
                  if v is not None}
        if fuse_with is None:
            self.backbone = load_backbone(model, kind=kind, **kwargs, **(backbone_kwargs or {}))
            trainable = [self.backbone]
        else:
            self.backbone = FusedBackbone.build(
                fuse_with, model, head=fusion_head, out_dim=fusion_dim, train_backbones=train_backbones,
                cache_dir=embedding_cache_dir, a_kwargs=fuse_with_kwargs,
                b_kwargs={**kwargs, **(backbone_kwargs or {})},
            )
            trainable = [self.backbone.a, self.backbone.b] if train_backbones else []
        for backbone in trainable:
            vision = getattr(backbone, "vision_tower", None)
            if freeze_vision and vision is not None:
                vision().requires_grad_(False)
            if gradient_checkpointing:
                backbone.model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            if lora:
                apply_lora(backbone, lora_r, lora_alpha, lora_dropout, lora_target_modules,
                           language_model_only=freeze_vision and vision is not None)
        self.backbone.train()

    # ------------------------------------------------------------------ forward and losses

    def embed_batch(self, batch: dict[str, Any]) -> tuple[Tensor, Tensor, Tensor]:
        """(queries (B, D), documents per slot (B, S, D), slot mask (B, S)) of a collated batch."""
        q = self.backbone(**batch["query"])  # (batch_size, dim)
        flat = self.backbone(**batch["docs"])  # (num_docs, dim)
        index = batch["doc_index"]  # (batch_size, slots), -1 = empty
        mask = index >= 0
        docs = flat[index.clamp(min=0)] * mask.unsqueeze(-1)  # (batch_size, slots, dim)
        return q, docs, mask

    def _step(self, batch: dict[str, Any], stage: str) -> Tensor:
        q, docs, mask = self.embed_batch(batch)
        out = self.loss.batch_loss(q, docs, mask, batch)
        size, sync = q.shape[0], stage == "val"
        self.log(f"{stage}/loss", out.loss, prog_bar=True, batch_size=size, sync_dist=sync)
        for name, value in out.metrics.items():
            self.log(f"{stage}/{name}", value, prog_bar=sync and name == "accuracy", batch_size=size, sync_dist=sync)
        return out.loss

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        loss = self._step(batch, "train")
        self.log("lr", self.trainer.optimizers[0].param_groups[0]["lr"], batch_size=1)
        return loss

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        return self._step(batch, "val")

    # ------------------------------------------------------------------ optimisation

    def configure_optimizers(self) -> dict[str, Any]:
        from transformers import get_linear_schedule_with_warmup

        decay, no_decay = [], []
        for name, param in self.named_parameters():
            if param.requires_grad:
                (no_decay if param.ndim < 2 or "norm" in name.lower() else decay).append(param)
        optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": self.hparams.weight_decay},
             {"params": no_decay, "weight_decay": 0.0}],
            lr=self.hparams.learning_rate,
        )
        total = max(int(self.trainer.estimated_stepping_batches), 1)
        scheduler = get_linear_schedule_with_warmup(optimizer, int(total * self.hparams.warmup_ratio), total)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    # ------------------------------------------------------------------ export

    def export(self, path: str | Path) -> Path:
        """Write a folder ``UnifiedRetriever.from_pretrained`` loads; LoRA adapters are merged in place."""
        from unret.retriever import UnifiedRetriever

        parts = [self.backbone.a, self.backbone.b] if isinstance(self.backbone, FusedBackbone) else [self.backbone]
        for backbone in parts:
            if hasattr(backbone.model, "merge_and_unload"):
                backbone.model = backbone.model.merge_and_unload()
            if self.hparams.gradient_checkpointing and backbone.model.is_gradient_checkpointing:
                backbone.model.gradient_checkpointing_disable()
        ref = {"name_or_path": str(Path(path).resolve()), "fine_tuned_from": self.hparams.model}
        UnifiedRetriever(self.backbone, ref).save_pretrained(path)
        return Path(path)

    def on_fit_end(self) -> None:
        if not self.trainer.is_global_zero:
            return
        path = self.hparams.export_dir or str(Path(self.trainer.default_root_dir) / "retriever")
        self.export(path)
        log.warning("exported the fine-tuned retriever to %s (UnifiedRetriever.from_pretrained loads it)", path)
