"""The HTML report: self-contained, and inert whatever the model answered."""

from __future__ import annotations

import math
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pandas as pd

from niah.analysis import load_results, rows_frame, summarize
from niah.redact import redact_keys
from niah.report.build import build_report
from niah.report.html import MAX_RESPONSE_CHARS, ZOOM, ReportImages, png_size, render_html
from niah.results import ResultRow, UsageInfo
from tests.report.factory import (
    HOSTILE,
    answer_error_rows,
    make_row,
    manifest,
    quickstart_rows,
    write_run,
)


class Tags(HTMLParser):
    """Every start tag with its attributes, as a browser's tokenizer sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags_of(page: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Tags()
    parser.feed(page)
    return parser.tags


def hostile_frame(model: str = "evil/<b>model</b>") -> pd.DataFrame:
    rows = [make_row(1000, 10 * k, 0.0, response=text, model=model)
            for k, text in enumerate(HOSTILE)]
    rows.append(make_row(2000, 0, 1.0, model=model))
    return rows_frame(rows)


def page_for(df: pd.DataFrame, manifest: dict[str, Any] | None = None) -> str:
    images = ReportImages(heatmaps={label: b"\x89PNG fake" for label in df["series"]})
    return render_html(df, summarize(df), images, [("runs/<x>", manifest)],
                       title="<i>t</i>")


def test_model_output_is_escaped_text() -> None:
    page = page_for(hostile_frame())
    for text in HOSTILE:
        assert text not in page
    assert "&lt;script&gt;document.title=&#x27;PWNED&#x27;&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=&quot;document.title=&#x27;PWNED&#x27;&quot;&gt;" in page
    assert "&lt;/td&gt;&lt;/table&gt;&lt;h1 id=injected&gt;" in page
    tags = tags_of(page)
    names = [t for t, _ in tags]
    assert "script" not in names and "h1" in names and names.count("h1") == 1
    assert not any(attrs.get("id") == "injected" for _, attrs in tags)
    assert not any(k.startswith("on") for _, attrs in tags for k in attrs)
    clean = page_for(rows_frame([make_row(1000, 10 * k, 0.0, model="evil/<b>model</b>")
                                 for k in range(3)] + [make_row(2000, 0, 1.0,
                                                                model="evil/<b>model</b>")]))
    assert names.count("table") == [t for t, _ in tags_of(clean)].count("table")


def test_model_ids_titles_and_paths_are_escaped() -> None:
    page = page_for(hostile_frame())
    assert "<b>model</b>" not in page and "evil/&lt;b&gt;model&lt;/b&gt;" in page
    assert "<i>t</i>" not in page and "&lt;i&gt;t&lt;/i&gt;" in page
    assert "runs/&lt;x&gt;" in page


def test_page_loads_nothing_and_runs_nothing() -> None:
    page = page_for(hostile_frame())
    tags = tags_of(page)
    meta = [a for t, a in tags if t == "meta" and a.get("http-equiv")]
    assert meta and meta[0]["content"] is not None
    assert "default-src 'none'" in meta[0]["content"] and "img-src data:" in meta[0]["content"]
    for tag, attrs in tags:
        assert tag not in ("script", "link", "iframe", "object", "embed", "base")
        for key in ("src", "href"):
            value = attrs.get(key)
            assert value is None or value.startswith("data:image/png;base64,"), (tag, value)
    assert not re.search(r"url\(|@import|https?://", page.split("<body>")[0])


def test_images_are_embedded_per_model(tmp_path: Path) -> None:
    rows = quickstart_rows() + quickstart_rows(model="anthropic/claude")
    report = build_report([write_run(tmp_path / "run", rows)])
    page = (report.out_dir / "report.html").read_text(encoding="utf-8")
    images = [a for t, a in tags_of(page) if t == "img"]
    assert len(images) == 3  # comparison + one heatmap per model
    assert all((a["src"] or "").startswith("data:image/png;base64,iVBOR") for a in images)
    assert [a["alt"] for a in images] == [
        "Models compared", "Recall heatmap of openai/gpt-4o", "Recall heatmap of anthropic/claude"]


def test_missed_and_errored_trials_are_listed() -> None:
    df = rows_frame(quickstart_rows())
    page = page_for(df)
    table = page.split("Missed, unanswered and errored trials")[1]
    assert table.count("API error (permanent): context too long") == 3
    assert table.count("<tr>") == 1 + 3 + 3  # header, errors, misses (score < 1)


def test_long_responses_are_cut() -> None:
    df = rows_frame([make_row(1000, 0, 0.0, response="A" * (MAX_RESPONSE_CHARS + 500))])
    page = page_for(df)
    assert "A" * MAX_RESPONSE_CHARS in page and "A" * (MAX_RESPONSE_CHARS + 1) not in page
    assert "500 more characters" in page


def test_config_is_shown_with_secrets_redacted() -> None:
    manifest = {
        "niah_version": "0.1.0",
        "experiment": {"name": "demo", "model": [{"id": "openai/x", "api_key_env": "OPENAI_KEY"}],
                       "note": "</pre><script>alert(1)</script>"},
        "headers": {"Authorization": "Bearer sk-live-123", "api_key": "sk-live-456"},
    }
    page = page_for(rows_frame(quickstart_rows()), manifest)
    assert "sk-live" not in page
    assert "OPENAI_KEY" in page and "[redacted]" in page
    assert "<script>alert(1)</script>" not in page
    assert redact_keys({"a": [{"token": "x", "max_tokens": 5}]}) == {
        "a": [{"token": "[redacted]", "max_tokens": 5}]}


def test_run_without_manifest_says_so(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", quickstart_rows())
    df = load_results(run)
    page = render_html(df, summarize(df), ReportImages(), [(str(run), None)])
    assert "No manifest.json" in page


def summary_rows(page: str) -> dict[str, list[str]]:
    """The summary table's cells as text, by column header."""
    table = page.split("<h2>Summary</h2>")[1].split("</table>")[0]
    heads = re.findall(r"<th>(.*?)</th>", table)
    cells = [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", table)]
    return {h: cells[k::len(heads)] for k, h in enumerate(heads)}


def test_unanswered_trials_are_a_summary_column_and_listed_with_their_kind() -> None:
    page = page_for(rows_frame(answer_error_rows()))
    columns = summary_rows(page)
    assert columns["API errors"] == ["4 (36.4%)"]
    assert columns["Unanswered"] == ["4 (36.4%)"]
    assert columns["Recall"] == ["66.7%"]
    table = page.split("Missed, unanswered and errored trials")[1]
    assert table.count("no answer (truncated): the reply hit the output limit") == 3
    assert table.count("no answer (empty): the reply is empty") == 1
    assert table.count("(empty reply)") == 1 and table.count("(no response)") == 4
    assert table.count("API error (permanent): context too long") == 4
    # the cut reply is shown, so a reader sees where it stopped
    assert "Let me think about where the magic number could be. First, the" in table
    assert "hatched light gray" in page and "API error" in page


def test_lengths_and_token_counts_are_shown_per_model(tmp_path: Path) -> None:
    claude = "anthropic/<i>claude</i>"
    rows = [make_row(n, 0, 1.0, model=claude, reported=round((n + 50) * 1.25))
            for n in (1000, 2000)]
    rows += [make_row(n, 0, 1.0, reported=n + 50) for n in (1000, 2000)]
    rows += [make_row(1000, 0, 1.0, model="x/local")]
    run = write_run(tmp_path / "run", rows, manifest(
        {claude: "tiktoken:cl100k_base", "openai/gpt-4o": "tiktoken:o200k_base",
         "x/local": "hf:/models/local/tokenizer.json"}))
    df = load_results(run)
    page = page_for(df)
    columns = summary_rows(page)
    assert columns["Model"] == ["anthropic/&lt;i&gt;claude&lt;/i&gt;", "openai/gpt-4o", "x/local"]
    assert columns["Lengths counted in"] == [
        "cl100k_base (approximate)", "o200k_base", "hf:local/tokenizer.json"]
    assert columns["Token counts (server vs niah)"] == [
        "differs in 2 of 2 rows (median ratio 1.250)", "agrees (2 rows)", "not reported"]
    warnings = re.findall(r'<p class="warn">(.*?)</p>', page)
    assert len(warnings) == 2  # under the summary and in the model's section
    assert warnings[0].startswith("anthropic/&lt;i&gt;claude&lt;/i&gt;: the server counted "
                                  "prompts differently from niah in 2 of 2 rows")
    assert "(niah counted in tiktoken:cl100k_base)" in warnings[0]
    assert "<i>claude</i>" not in page
    notes = re.findall(r'<p class="note">(.*?)</p>', page)
    approximate = [n for n in notes if "not in this model&#x27;s own tokens" in n]
    assert len(approximate) == 2 and approximate[0].startswith("anthropic/&lt;i&gt;claude")
    assert not any(n.startswith("openai/gpt-4o:") for n in notes)


def test_scripted_fakes_are_named_as_such_in_title_tables_and_sections(tmp_path: Path) -> None:
    rows = quickstart_rows(model="scripted/perfect") + quickstart_rows()
    report = build_report([write_run(tmp_path / "run", rows)])
    page = (report.out_dir / "report.html").read_text(encoding="utf-8")
    fake = "scripted/perfect (scripted fake, not a model)"
    assert f"<title>Needle in a haystack: {fake} vs openai/gpt-4o</title>" in page
    assert summary_rows(page)["Model"] == [fake, "openai/gpt-4o"]
    assert f"<h2>{fake}</h2>" in page and f'alt="Recall heatmap of {fake}"' in page
    assert page.count("scripted/perfect") == page.count(fake) + page.count('"scripted/perfect"')


def judged_rows() -> list[ResultRow]:
    """An import as niah writes it: judge 10, 1 and 5 in three cells, no token usage."""
    rows = []
    for length, judge in [(1000, 10), (6853, 1), (12706, 5)]:
        row = make_row(length, 50, 0.0, model="gkamradt/claude-2.1", estimated=True)
        rows.append(row.model_copy(update={
            "score": (judge - 1) / 9, "usage": UsageInfo(), "cost_usd": None,
            "response": None if judge == 5 else row.response,
            "extra": {"estimated": True, "judge_score": judge,
                      "gkamradt": {"score": judge}}}))
    return rows


def test_imported_runs_show_judge_scores_estimates_and_unknowns() -> None:
    page = page_for(rows_frame(judged_rows() + quickstart_rows()))
    columns = summary_rows(page)
    assert list(columns)[1] == "Recall or judge score"
    assert columns["Recall or judge score"] == ["5.3/10", "62.5%"]
    assert columns["Longest tested"] == ["12706 (estimated)", "4K"]
    assert columns["Prompt tokens"] == ["≈ 20,709 (estimated)", "22,550"]
    assert columns["Completion tokens"] == ["unknown", "≥ 80 (3 of 11 rows unknown)"]
    assert columns["Cost"][0] == "unknown"
    assert "stored as (judge − 1) / 9, so 1 → 0 and 10 → 1" in page
    section = page.split("<h2>gkamradt/claude-2.1</h2>")[1].split("</section>")[0]
    assert "<h3>Judge score by context length</h3>" in section
    assert ("<tr><th>Length (estimated)</th><th>1K</th><th>6853</th><th>12706</th></tr>"
            "<tr><th>Mean judge score</th>") in section
    assert '<td class="num">10.0/10</td><td class="num">1.0/10</td>' in section
    table = section.split("Missed, unanswered and errored trials")[1]
    assert "<th>Judge score / error (kind)</th>" in table
    assert "<td>judge 1/10</td>" in table and "<td>judge 5/10</td>" in table
    assert "(not in the imported record)" in table
    assert 'alt="Judge-score heatmap of gkamradt/claude-2.1"' in page


def test_tables_scroll_inside_the_page_and_figures_show_at_zoom_px_per_pt(
    tmp_path: Path,
) -> None:
    lengths = [1000 + 5853 * k for k in range(35)]
    rows = [make_row(n, d, 1.0) for n in lengths for d in (0, 50, 100)]
    report = build_report([write_run(tmp_path / "run", rows)])
    page = (report.out_dir / "report.html").read_text(encoding="utf-8")
    assert page.count('<div class="wide"><table>') == page.count("<table>") >= 3
    (img,) = [a for t, a in tags_of(page) if t == "img"]
    png = (report.out_dir / "heatmap_openai_gpt-4o.png").read_bytes()
    assert png_size(png) is not None
    width, _ = png_size(png)  # type: ignore[misc]
    assert img["width"] == str(math.ceil(width * 72 / 150 * ZOOM))
    assert png_size(b"GIF89a") is None
