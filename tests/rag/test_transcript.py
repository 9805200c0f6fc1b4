"""RAG over a cascade's transcript: whole lines packed into chunks, the top k kept in
document order, and recall judged against the needles' answers on the row."""

from __future__ import annotations

from niah.rag.config import RagSpec
from niah.rag.transcript import TranscriptRetriever, line_chunks, recall_facts
from niah.tokenizers import load_tokenizer


def test_lines_are_packed_whole_with_the_overlap_asked() -> None:
    sizes = [3, 3, 3, 10, 2, 2]
    lines = [f"l{i}\n" for i in range(len(sizes))]
    assert line_chunks(lines, sizes, 6) == [(0, 2), (2, 3), (3, 4), (4, 6)]
    # a line over the size stands alone; with overlap 3 the last line of a chunk repeats
    assert line_chunks(lines, sizes, 6, overlap=3) == [(0, 2), (1, 3), (2, 3), (3, 4), (4, 6)]


def test_the_needles_line_is_retrieved_and_recall_is_judged_on_the_answer() -> None:
    lines = [f"[00:00:{i:02d}] the garden was quiet and the river ran slowly past the mill\n"
             for i in range(40)]
    lines[23] = "[00:00:23] the secret word is lantern\n"
    transcript = "".join(lines)
    retriever = TranscriptRetriever(RagSpec(top_k=1, chunk_tokens=40),
                                    load_tokenizer("tiktoken:cl100k_base"))
    text, facts = retriever.retrieve(transcript, "\n\nWhat is the secret word?")
    assert "the secret word is lantern" in text and len(text) < len(transcript) / 4
    assert text in transcript  # whole lines, in document order
    assert facts["chunks"] > 10 and len(facts["retrieved"]) == 1
    assert facts["retrieved_tokens"] <= 40 < facts["transcript_tokens"]
    row = recall_facts(facts, ["lantern"])
    assert row["retrieval_recall"] == 1.0 and row["needles_retrieved"] == [True]
    assert "text" not in row
    assert recall_facts(facts, ["lantern", "kettle"])["retrieval_recall"] == 0.5
