"""Prompt presets and resolution (unret.prompts): what wording each item gets."""

from __future__ import annotations

import pytest

from unret.prompts import CONTENT, PRESETS, ROLES, TASKS, Prompt, PromptSet, get_prompt_set

MODALITIES = ("text", "code", "image", "image+text", "video")


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_covers_every_role_and_modality_and_round_trips(name):
    preset = PRESETS[name]
    for role in ROLES:
        for modality in MODALITIES:
            assert isinstance(preset.resolve(role, modality), Prompt)
    again = PromptSet.from_dict(preset.to_dict())
    assert again == preset and get_prompt_set(preset.to_dict()) == preset


def test_instructions_go_to_queries_only():
    preset = PRESETS["supervised"]
    query = preset.resolve("query", "code", task="nl2code")
    assert query.template == f"Instruct: {TASKS['nl2code']}\nQuery: {CONTENT}" and query.append_eos
    assert preset.resolve("document", "code", task="nl2code") == preset.resolve("document", "code")
    custom = preset.resolve("query", "text", task="nl2code", instruction="Find the poem.")
    assert custom.template.startswith("Instruct: Find the poem.\n")  # an explicit instruction wins


def test_presets_follow_their_recipes():
    oneword = PRESETS["oneword"].resolve("query", "text")
    assert oneword.chat and oneword.assistant_prefix == 'The word is: "'
    assert oneword.template.startswith(f'Query: "{CONTENT}". Use one word to represent the query')
    assert PRESETS["supervised"].resolve("document", "text").template == f"Passage: {CONTENT}"
    assert PRESETS["plain"].resolve("query", "text").template == CONTENT
    assert PRESETS["plain"].resolve("document", "image").template == ""


def test_videos_have_their_own_wording_and_older_sets_read_them_as_images():
    video = PRESETS["oneword"].resolve("document", "video")
    assert video.template.startswith("Use one word to represent the video") and video.chat
    older = PromptSet("older", {("query", "image"): Prompt("Query: ", append_eos=True)})
    assert older.resolve("query", "video") == older.resolve("query", "image")
    with pytest.raises(ValueError, match="has no prompt for a video document"):
        older.resolve("document", "video")


def test_with_instruction_without_one_is_the_same_prompt():
    prompt = Prompt("Q: " + CONTENT)
    assert prompt.with_instruction(None) is prompt and prompt.with_instruction("") is prompt


def test_bad_names_are_clear_errors():
    preset = PRESETS["plain"]
    with pytest.raises(ValueError, match="unknown task 'nope'"):
        preset.resolve("query", "text", task="nope")
    with pytest.raises(ValueError, match="role must be one of"):
        preset.resolve("passage", "text")
    with pytest.raises(ValueError, match="has no prompt for a audio query"):
        preset.resolve("query", "audio")
    with pytest.raises(ValueError, match="unknown prompt preset 'fancy'"):
        get_prompt_set("fancy")
    with pytest.raises(TypeError, match="prompts must be a preset name"):
        get_prompt_set(3)


def test_a_custom_prompt_set_keeps_its_own_tasks():
    custom = PromptSet("mine", {("query", "text"): Prompt("q " + CONTENT)}, tasks={"t": "Do it."})
    assert custom.resolve("query", "text", task="t").template == f"Instruct: Do it.\nq {CONTENT}"
    assert get_prompt_set(custom) is custom
    with pytest.raises(ValueError, match="unknown task 'nl2code'"):
        custom.resolve("query", "text", task="nl2code")
