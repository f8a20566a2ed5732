"""unret: unified multimodal dense retrieval — one embedding space for text, code and images.

Names are imported lazily so that ``import unret.training.losses`` (e.g. in every DDP worker) does not pay
for transformers and the backbones.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "Code": "unret.items",
    "ConfigError": "unret.errors",
    "DataFormatError": "unret.errors",
    "Hit": "unret.index",
    "IndexCorruptError": "unret.errors",
    "IndexLockedError": "unret.errors",
    "InputError": "unret.errors",
    "ModelMismatchError": "unret.errors",
    "NoIndexError": "unret.errors",
    "ReadOnlyIndexError": "unret.errors",
    "UnretError": "unret.errors",
    "Item": "unret.items",
    "Text": "unret.items",
    "Video": "unret.items",
    "Prompt": "unret.prompts",
    "PromptSet": "unret.prompts",
    "UnifiedRetriever": "unret.retriever",
}

__all__ = [
    "Code", "ConfigError", "DataFormatError", "Hit", "IndexCorruptError", "IndexLockedError", "InputError", "Item",
    "ModelMismatchError", "NoIndexError", "Prompt", "PromptSet", "ReadOnlyIndexError", "Text", "UnifiedRetriever",
    "UnretError", "Video", "__version__",
]

if TYPE_CHECKING:
    from unret.errors import (
        ConfigError,
        DataFormatError,
        IndexCorruptError,
        IndexLockedError,
        InputError,
        ModelMismatchError,
        NoIndexError,
        ReadOnlyIndexError,
        UnretError,
    )
    from unret.index import Hit
    from unret.items import Code, Item, Text, Video
    from unret.prompts import Prompt, PromptSet
    from unret.retriever import UnifiedRetriever


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'unret' has no attribute {name!r}")
