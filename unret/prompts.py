"""Named prompts per (role, modality, task): how an item is worded before a backbone reads it.

LLM retrievers are sensitive to wording. The presets are the two recipes of the comparative study
(docs/architecture.md):

* ``oneword`` — zero-shot: a chat turn ``Query: "{q}". Use one word to represent the query in a retrieval
  task. Make sure your word is in lowercase.`` followed by the assistant prefix ``The word is: "``; the last
  token's state then summarises the input as the "next word";
* ``supervised`` — RepLLaMA / Tevatron fine-tuning: ``Query: `` / ``Passage: `` prefixes with EOS appended;
* ``plain`` — the content alone, for BERT-like sentence encoders trained without prompts.

A template is plain text with ``{content}`` where the item's text goes (replaced literally, so braces in
user text are harmless). Users can override per call with ``task=`` (a named instruction) or
``instruction=`` / ``prompt=``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

Role = Literal["query", "document"]
ROLES: tuple[str, ...] = ("query", "document")
CONTENT = "{content}"


@dataclass(frozen=True)
class Prompt:
    """How one item becomes model input.

    ``template`` wraps the item's text; ``chat`` wraps the result as a user turn of the model's chat
    template (images go first in that turn); ``assistant_prefix`` is text after the generation prompt;
    ``append_eos`` appends the tokenizer's EOS so the last token has seen everything (RepLLaMA);
    ``system`` is the system turn (None: the chat template's default); ``generation_prompt=False`` ends the
    input after the user turn, as sentence-transformers renders chat models unless told otherwise.
    """

    template: str = CONTENT
    chat: bool = False
    assistant_prefix: str = ""
    append_eos: bool = False
    system: str | None = None
    generation_prompt: bool = True

    def with_instruction(self, instruction: str | None, style: str = "prefix") -> Prompt:
        """The same prompt carrying a task instruction, placed as the prompt set's ``instruct`` style says.

        ``prefix``: an ``Instruct: …`` line before the content (E5 / Qwen3 style); ``system``: the instruction
        becomes the system turn (GME, sentence-transformers chat models); ``system.``: the same with a period
        added when it ends without punctuation (Qwen3-VL-Embedding); any other value is a template holding
        ``{instruction}`` and ``{content}`` that replaces the prompt's template (Qwen3-Embedding's
        ``Instruct: {instruction}\nQuery:{content}``).
        """
        if not instruction:
            return self
        if style == "prefix":
            return replace(self, template=f"Instruct: {instruction}\n{self.template}")
        if style in ("system", "system."):
            instruction = instruction.strip()
            if style == "system." and not unicodedata.category(instruction[-1]).startswith("P"):
                instruction += "."
            return replace(self, system=instruction)
        return replace(self, template=style.replace("{instruction}", instruction))

    def to_dict(self) -> dict:
        out = {
            "template": self.template,
            "chat": self.chat,
            "assistant_prefix": self.assistant_prefix,
            "append_eos": self.append_eos,
            "system": self.system,
        }
        if not self.generation_prompt:  # written only when set: configs saved before it stay byte-identical
            out["generation_prompt"] = False
        return out


_ONE_WORD = "Use one word to represent the {what} in a retrieval task. Make sure your word is in lowercase."

# Named task instructions, prepended to *queries* only (documents stay task-agnostic, so one index serves
# every task).
TASKS: dict[str, str] = {
    "nl2code": "Given a natural-language description, retrieve the code that implements it.",
    "code2code": "Given a piece of code, retrieve code with the same functionality.",
    "code2text": "Given a piece of code, retrieve the text that describes it.",
    "text2image": "Given a description, retrieve the image that matches it.",
    "image2text": "Given an image, retrieve the text that describes it.",
    "image2image": "Given an image, retrieve similar images.",
    "qa": "Given a question, retrieve passages that answer it.",
    "search": "Given a web search query, retrieve relevant passages.",
}


def _oneword(label: str, what: str) -> Prompt:
    text = f'{label}: "{CONTENT}". ' if label else ""
    return Prompt(template=text + _ONE_WORD.format(what=what), chat=True, assistant_prefix='The word is: "')


@dataclass(frozen=True)
class PromptSet:
    """A prompt for every (role, modality); ``tasks`` maps task names to query instructions.

    ``instruct`` says where a query instruction goes (see :meth:`Prompt.with_instruction`).
    """

    name: str
    prompts: Mapping[tuple[str, str], Prompt]
    tasks: Mapping[str, str] = field(default_factory=lambda: dict(TASKS))
    instruct: str = "prefix"

    def resolve(
        self, role: str, modality: str, task: str | None = None, instruction: str | None = None
    ) -> Prompt:
        """The prompt for one item; ``instruction`` (or the named ``task``'s) is added to queries only."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, got {role!r}")
        prompt = self.prompts.get((role, modality))
        if prompt is None and modality == "video":  # sets written before videos (recipes, saved configs)
            prompt = self.prompts.get((role, "image"))  # read a clip as they read a picture
        if prompt is None:
            raise ValueError(f"prompt set {self.name!r} has no prompt for a {modality} {role}")
        if task is not None and instruction is None:
            if task not in self.tasks:
                raise ValueError(f"unknown task {task!r}; known tasks: {sorted(self.tasks)}")
            instruction = self.tasks[task]
        return prompt.with_instruction(instruction, self.instruct) if role == "query" else prompt

    def to_dict(self) -> dict:
        out = {
            "name": self.name,
            "prompts": {f"{r}/{m}": p.to_dict() for (r, m), p in self.prompts.items()},
            "tasks": dict(self.tasks),
        }
        if self.instruct != "prefix":
            out["instruct"] = self.instruct
        return out

    @classmethod
    def from_dict(cls, data: Mapping) -> PromptSet:
        prompts = {tuple(k.split("/", 1)): Prompt(**v) for k, v in data["prompts"].items()}
        return cls(name=data["name"], prompts=prompts, tasks=dict(data.get("tasks", TASKS)),
                   instruct=data.get("instruct", "prefix"))


def _preset(name: str, by_role_modality: dict[tuple[str, str], Prompt]) -> PromptSet:
    return PromptSet(name=name, prompts=by_role_modality)


PRESETS: dict[str, PromptSet] = {
    "oneword": _preset(
        "oneword",
        {
            ("query", "text"): _oneword("Query", "query"),
            ("query", "code"): _oneword("Query", "query"),
            ("query", "image"): _oneword("", "image"),
            ("query", "image+text"): _oneword("Query", "image and query"),
            ("query", "video"): _oneword("", "video"),
            ("document", "text"): _oneword("Passage", "passage"),
            ("document", "code"): _oneword("Passage", "passage"),
            ("document", "image"): _oneword("", "image"),
            ("document", "image+text"): _oneword("Passage", "image and passage"),
            ("document", "video"): _oneword("", "video"),
        },
    ),
    "supervised": _preset(
        "supervised",
        {
            **{("query", m): Prompt("Query: " + CONTENT, append_eos=True) for m in ("text", "code")},
            **{("document", m): Prompt("Passage: " + CONTENT, append_eos=True) for m in ("text", "code")},
            ("query", "image"): Prompt("Query: ", append_eos=True),
            ("query", "image+text"): Prompt("Query: " + CONTENT, append_eos=True),
            ("document", "image"): Prompt("Passage: ", append_eos=True),
            ("query", "video"): Prompt("Query: ", append_eos=True),
            ("document", "video"): Prompt("Passage: ", append_eos=True),
            ("document", "image+text"): Prompt("Passage: " + CONTENT, append_eos=True),
        },
    ),
    "plain": _preset(
        "plain",
        {(r, m): Prompt(CONTENT if m not in ("image", "video") else "") for r in ROLES
         for m in ("text", "code", "image", "image+text", "video")},
    ),
}


def get_prompt_set(prompts: str | PromptSet | Mapping) -> PromptSet:
    """A preset by name, a ``PromptSet``, or a dict as written by ``PromptSet.to_dict``."""
    if isinstance(prompts, PromptSet):
        return prompts
    if isinstance(prompts, str):
        if prompts not in PRESETS:
            raise ValueError(f"unknown prompt preset {prompts!r}; choose one of {sorted(PRESETS)}")
        return PRESETS[prompts]
    if isinstance(prompts, Mapping):
        return PromptSet.from_dict(prompts)
    raise TypeError(f"prompts must be a preset name, a PromptSet or a dict, got {type(prompts).__name__}")
