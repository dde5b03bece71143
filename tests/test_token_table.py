"""The build's token table as the server reads it: shared token objects, and a clear error on a
damaged file instead of a traceback."""
from __future__ import annotations

import json

import pytest

from index.errors import IndexUnavailable
from index.manifest import TOKENS_NAME
from index.token_table import TokenTable


@pytest.fixture(scope="module")
def loaded(session_assistant):
    r = session_assistant.retriever
    return r.chunks, r.sentences.spans, r.tokens


def test_each_distinct_token_is_one_object(loaded):
    chunks, spans, table = loaded
    occurrences = [t for toks in table.chunk_tokens for t in toks]
    assert len(occurrences) > 5 * len({id(t) for t in occurrences})  # ~41k uses of ~4k tokens
    assert len({id(t) for t in occurrences}) == len(set(occurrences))
    assert table.by_text[chunks[0].text] == frozenset(table.chunk_tokens[0])


@pytest.mark.parametrize("damage", [
    lambda raw: {"chunks": raw["chunks"]},  # a part missing
    lambda raw: {**raw, "chunks": raw["chunks"][1:]},  # a chunk missing
    lambda raw: {**raw, "sentences": [7] + raw["sentences"][1:]},  # not a list of tokens
    lambda raw: {**raw, "chunks": [[["x"]]] + raw["chunks"][1:]},  # a token that is not text
    lambda raw: [],
])
def test_a_damaged_table_is_index_corrupt(loaded, state_dir, tmp_path, damage):
    chunks, spans, _ = loaded
    raw = json.loads(next(state_dir.rglob(TOKENS_NAME)).read_text(encoding="utf-8"))
    (tmp_path / TOKENS_NAME).write_text(json.dumps(damage(raw)), encoding="utf-8")
    with pytest.raises(IndexUnavailable) as e:
        TokenTable.load(tmp_path, chunks, spans)
    assert e.value.code == "index_corrupt"
