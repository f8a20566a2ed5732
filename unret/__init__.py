"""unret: unified multimodal dense retrieval — one embedding space for text, code and images."""

from unret.items import Code, InputError, Item, Text
from unret.prompts import Prompt, PromptSet
from unret.retriever import UnifiedRetriever

__version__ = "0.1.0"

__all__ = ["Code", "InputError", "Item", "Prompt", "PromptSet", "Text", "UnifiedRetriever", "__version__"]
