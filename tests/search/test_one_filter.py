"""One filter for every mode: lexical and hybrid ``where`` compare JSON types exactly as dense search does
(``True`` is not ``1``), through one batched ``store.accepts`` call, not a lookup per document."""

from __future__ import annotations

import pytest

from unret import UnifiedRetriever
from unret.items import Text
from unret.search import LexicalIndex, LexicalRetriever

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def flagged(minilm_path):
    r = UnifiedRetriever.from_pretrained(minilm_path)
    r.add([Text("whales sing in the deep ocean"), Text("whales migrate along the coast"),
           Text("whales and dolphins"), Text("whales in a string value")],
          ids=["bool", "int", "float", "str"],
          metadata=[{"flag": True}, {"flag": 1}, {"flag": 1.0}, {"flag": "1"}])
    return r


@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
@pytest.mark.parametrize(("where", "expected"), [({"flag": True}, {"bool"}), ({"flag": 1}, {"int", "float"}),
                                                  ({"flag": "1"}, {"str"})])
def test_where_compares_json_types_in_every_mode(flagged, mode, where, expected):
    assert {h.id for h in flagged.search("whales", k=4, mode=mode, where=where)} == expected


def test_a_filtered_lexical_search_asks_the_store_once_not_per_document(flagged, monkeypatch):
    store = flagged.store
    calls = {"get": 0, "accepts": 0}
    get, accepts = store.get, store.accepts

    def counting_get(i):
        calls["get"] += 1
        return get(i)

    def counting_accepts(*a, **k):
        calls["accepts"] += 1
        return accepts(*a, **k)

    monkeypatch.setattr(store, "get", counting_get)
    monkeypatch.setattr(store, "accepts", counting_accepts)
    hits = flagged.search(["whales", "ocean"], k=1, mode="lexical", where={"flag": 1})
    assert [len(h) for h in hits] == [1, 0] and calls["accepts"] == 1
    assert calls["get"] == 1  # the one hit's metadata, not one lookup per indexed document


def test_a_catalog_callable_filters_with_the_same_rules():
    lexical = LexicalIndex().add(["a", "b"], ["red whale", "red whale"])
    meta = {"a": ("text", {"flag": True}), "b": ("text", {"flag": 1})}
    retriever = LexicalRetriever(lexical, meta.__getitem__)
    assert [h.id for h in retriever.search(["whale"], k=2, where={"flag": True})[0]] == ["a"]
    assert [h.id for h in retriever.search(["whale"], k=2, where={"flag": 1}, modality="text")[0]] == ["b"]
