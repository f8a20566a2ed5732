"""Training end to end on the tiny checkpoint: loss goes down, exports reload, configs parse."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
import torch

from unret import UnifiedRetriever
from unret.errors import ConfigError, DataFormatError
from unret.testing import write_toy_retrieval_jsonl
from unret.training.data import RetrievalDataModule
from unret.training.losses import LOSSES, BatchNeeds, LossOutput, RetrievalLoss, build_loss, register_loss
from unret.training.module import RetrieverModule

ROOT = Path(__file__).resolve().parents[2]


class HardestNegativeMargin(RetrievalLoss):
    """The extension example: a loss the module knows nothing about (hinge on the hardest negative)."""

    needs = BatchNeeds("contrastive")

    def __init__(self, margin: float = 0.3):
        super().__init__()
        self.margin = margin

    def batch_loss(self, q, docs, mask, batch):
        scores = torch.einsum("bd,bsd->bs", q.float(), docs.float()).masked_fill(~mask, float("-inf"))
        loss = torch.relu(self.margin - scores[:, 0] + scores[:, 1:].max(1).values).mean()
        return LossOutput(loss, {"accuracy": (scores.argmax(1) == 0).float().mean()})


def _fit(tmp_path, loss: str | RetrievalLoss, lora: bool, epochs: int = 4,
         mode: str | None = None) -> tuple[RetrieverModule, list[float]]:
    data = write_toy_retrieval_jsonl(tmp_path / "train.jsonl", n=32, num_negatives=3)
    L.seed_everything(0)
    module = RetrieverModule("unret-testing/tiny-qwen2.5-vl", prompts="supervised", loss=loss, temperature=0.05,
                             lora=lora, lora_r=8, lora_alpha=16, lora_dropout=0.0, learning_rate=3e-3,
                             export_dir=str(tmp_path / "export"))
    dm = RetrievalDataModule(str(data), mode=mode, batch_size=8, num_negatives=3, list_size=4)
    losses: list[float] = []

    class Record(L.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            losses.append(float(outputs["loss"]))

    trainer = L.Trainer(accelerator="cpu", max_epochs=epochs, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, callbacks=[Record()],
                        default_root_dir=str(tmp_path))
    trainer.fit(module, dm)
    return module, losses


@pytest.mark.parametrize("loss", ["infonce", "distill", HardestNegativeMargin()], ids=["infonce", "distill", "toy"])
def test_tiny_fit_lowers_the_loss(tmp_path, loss):
    _, losses = _fit(tmp_path, loss, lora=True)  # no data mode: the loss lays out its batches
    per_epoch = len(losses) // 4
    first, last = sum(losses[:per_epoch]) / per_epoch, sum(losses[-per_epoch:]) / per_epoch
    assert last < 0.7 * first, losses


def test_lora_export_reloads_and_changes_embeddings(tmp_path):
    base = UnifiedRetriever.from_pretrained("unret-testing/tiny-qwen2.5-vl", prompts="supervised")
    probe = ["the red river", "A short story about the red river."]
    before = base.encode_queries(probe)
    module, _ = _fit(tmp_path, "infonce", lora=True, epochs=1)
    trained_vectors = module.backbone.embed(
        [__import__("unret").items.to_item(p) for p in probe], role="query").cpu()
    tuned = UnifiedRetriever.from_pretrained(tmp_path / "export")
    after = tuned.encode_queries(probe)
    assert (after - before).abs().max() > 1e-3  # fine-tuning changed the model
    torch.testing.assert_close(after, trained_vectors, atol=1e-4, rtol=0)  # merged export == trained model
    assert tuned.backbone.prompts.name == "supervised"
    assert not any("lora" in k for k in tuned.backbone.model.state_dict())  # adapters merged, plain weights


@pytest.mark.parametrize("config", ["contrastive.yaml", "distill.yaml", "tiny/contrastive.yaml",
                                    "tiny/distill.yaml"])
def test_configs_parse_with_print_config(config, capsys):
    from unret.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "-c", str(ROOT / "configs" / config), "--print_config"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "model:" in out and "train_file:" in out


def test_missing_model_is_a_clear_error():
    with pytest.raises(OSError, match="cannot load model 'Qwen/does-not-exist'"):
        RetrieverModule("Qwen/does-not-exist")


def _script(name: str) -> str | None:
    """A console script of this environment (next to the interpreter), else one on PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name)


@pytest.mark.skipif(_script("lightning") is None, reason="console scripts not installed (pip install -e .)")
def test_lightning_console_script_runs_lightningcli():
    out = subprocess.run([_script("lightning"), "fit", "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "--model.loss" in out.stdout
    assert _script("fabric") is not None  # Lightning's own command is untouched


def test_unret_fit_console_entry():
    out = subprocess.run([sys.executable, "-m", "unret.cli", "fit", "--help"], capture_output=True, text=True,
                         timeout=120, cwd=ROOT)
    assert out.returncode == 0 and "--data.train_file" in out.stdout


def test_a_data_mode_that_contradicts_the_loss_fails_before_training(tmp_path):
    """loss=distill with mode=contrastive used to die mid-step with KeyError 'teacher_scores'."""
    with pytest.raises(ConfigError, match=r"data.mode='contrastive' does not fit model.loss"):
        _fit(tmp_path, "distill", lora=False, epochs=1, mode="contrastive")


def test_old_configs_mode_still_read_when_it_agrees():
    dm = RetrievalDataModule("unused.jsonl", mode="distill")
    assert dm.needs() == BatchNeeds("list", teacher_scores=True)
    assert RetrievalDataModule("unused.jsonl").needs() == BatchNeeds("contrastive")  # no trainer, no loss


def test_a_loss_that_needs_teacher_scores_refuses_data_without_them_up_front(tmp_path):
    data = tmp_path / "train.jsonl"
    data.write_text('{"query": "q", "positives": ["p"], "negatives": ["n"], "teacher_scores": [1, 0]}\n'
                    '{"query": "q2", "positives": ["p2"], "negatives": ["n2"]}\n')
    module = RetrieverModule("unret-testing/tiny-qwen2.5-vl", loss="distill")
    dm = RetrievalDataModule(str(data), batch_size=2)
    trainer = L.Trainer(accelerator="cpu", max_epochs=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, default_root_dir=str(tmp_path))
    with pytest.raises(DataFormatError, match=r"train.jsonl:2: the loss needs 'teacher_scores'"):
        trainer.fit(module, dm)


def test_losses_are_built_by_name_with_only_their_own_settings():
    settings = {"temperature": 0.07, "teacher_temperature": 0.5, "margin": 9.0}
    assert build_loss("infonce", **settings).temperature == 0.07
    assert build_loss("distill", **settings).teacher_temperature == 0.5
    register_loss("hardest-margin")(HardestNegativeMargin)
    try:
        assert build_loss("hardest-margin", **settings).margin == 9.0
    finally:
        del LOSSES["hardest-margin"]
    with pytest.raises(ValueError, match="unknown loss 'nope'"):
        build_loss("nope")
