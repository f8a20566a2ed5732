"""PEFT adapter folders (``adapter_config.json`` + weights) as models: the base model with the adapter on top.

Released LoRA retrievers (Tevatron's RepLLaMA / DSE runs, unret's own LoRA training) ship only the adapter
and name their base in ``base_model_name_or_path``. ``load_backbone`` sees the adapter file, loads the base
through the usual path (same recipe detection, tokenizer and processor from the base) and puts the adapter
on top, merged into the weights by default (``merge_adapter=False`` keeps the LoRA layers, e.g. to train on).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ADAPTER_CONFIG = "adapter_config.json"


def adapter_base(name_or_path: str) -> str | None:
    """The base model of a local PEFT adapter folder; None when ``name_or_path`` is not one."""
    config_file = Path(name_or_path) / ADAPTER_CONFIG
    if not config_file.is_file() or (Path(name_or_path) / "config.json").is_file():
        return None
    base = json.loads(config_file.read_text()).get("base_model_name_or_path")
    if not base:
        raise ValueError(f"{config_file} does not name its base model (base_model_name_or_path); load the base "
                         "model and pass adapter= instead")
    return str(base)


def load_model(auto_class: Any, name_or_path: str, adapter: str | None = None, merge_adapter: bool = True,
               **kwargs: Any) -> Any:
    """``auto_class.from_pretrained(name_or_path)`` in eval mode, with ``adapter`` applied (and merged)."""
    model = auto_class.from_pretrained(name_or_path, **kwargs).eval()
    if adapter is None:
        return model
    from peft import PeftModel

    model = PeftModel.from_pretrained(model, adapter).eval()
    return model.merge_and_unload() if merge_adapter else model
