"""End to end with the real default models: all-MiniLM-L6-v2 and Gemma 3 270M."""

import json
import re
from pathlib import Path

import pytest

from tests.conftest import SEED_QUESTIONS, run_newsqa

pytestmark = pytest.mark.models

SYRIA_WORDS = ("Syria", "Tartus", "Assad")


def _ask(cwd: Path, question: str, *flags: str) -> dict:  # type: ignore[type-arg]
    result = run_newsqa(cwd, "ask", "--json", *flags, question)
    assert result.returncode == 0, result.stderr
    answer: dict = json.loads(result.stdout)  # type: ignore[type-arg]
    return answer


def _articles(cwd: Path) -> dict[str, str]:
    import sqlite3

    conn = sqlite3.connect(cwd / "indexes" / "default" / "store.sqlite")
    return dict(conn.execute("SELECT id, text FROM articles").fetchall())


def test_the_seed_question_on_the_sample_archive(sample_dir: Path) -> None:
    answer = _ask(sample_dir, "Which bases does Russia intend to keep?")
    assert answer["answerable"], answer
    assert "Tartus" in answer["answer"] and "Khmeimim" in answer["answer"]
    texts = _articles(sample_dir)
    for citation in answer["citations"]:
        assert citation["quote"] in texts[citation["article_id"]]
        assert "Tartus" in citation["quote"] and "Khmeimim" in citation["quote"]
        assert "Russia" in texts[citation["article_id"]]
    assert answer["model"] == "gemma-3-270m-q4_k_m.gguf"


def test_the_terminal_output_shows_sources(sample_dir: Path) -> None:
    result = run_newsqa(sample_dir, "ask", "Which bases does Russia intend to keep?")
    assert result.returncode == 0, result.stderr
    assert "Sources" in result.stdout and "[1]" in result.stdout


def test_a_question_the_archive_cannot_answer_is_refused(sample_dir: Path) -> None:
    answer = _ask(sample_dir, "What did China's foreign ministry say about the withdrawal?")
    assert answer["answerable"] is False
    assert answer["citations"] == [] and answer["retrieved"]


@pytest.mark.skipif(not SEED_QUESTIONS.exists(),
                    reason=f"needs the seed article and questions, {SEED_QUESTIONS.parent} "
                           "(the project's shared data, not in the repository)")
def test_the_seed_questions_on_the_seed_article(tmp_path: Path) -> None:
    result = run_newsqa(tmp_path, "ingest", str(SEED_QUESTIONS.parent))
    assert result.returncode == 0, result.stderr
    texts = _articles(tmp_path)
    right, refused_unanswerable = 0, False
    for line in SEED_QUESTIONS.read_text(encoding="utf-8").splitlines():
        question = json.loads(line)
        answer = _ask(tmp_path, question["question"])
        for citation in answer["citations"]:
            assert citation["quote"] in texts[citation["article_id"]]
        if not question["answers"]:
            refused_unanswerable = answer["answerable"] is False
            continue
        # Every word of a gold answer, in any order: "Khmeimim and Tartus" is right too.
        words = set(re.findall(r"\w+", answer["answer"].lower()))
        found = any(set(re.findall(r"\w+", g.lower())) <= words for g in question["answers"])
        right += answer["answerable"] and found and bool(answer["citations"])
    assert refused_unanswerable
    assert right >= 6


def test_option_scores_then_generation_share_the_cache_safely() -> None:
    from qa.config import cache_dir
    from qa.generators import LlamaGenerator
    from qa.models import default_gguf
    from qa.prompts import SHORT_ANSWER_STOP, SHORT_ANSWER_TEMPLATE

    path = default_gguf(cache_dir())
    assert path is not None
    generator = LlamaGenerator(path)
    prompt = SHORT_ANSWER_TEMPLATE.format(
        context="The Riverton council voted on Tuesday to keep the ferry terminals at Dock "
                "Street and Pier 9 open all winter.",
        question="Which terminals will stay open?")
    before = "".join(generator.complete(prompt, max_tokens=16, stop=SHORT_ANSWER_STOP))
    scores = generator.score_options(prompt, ["Dock Street and Pier 9", "Harbor Road"])
    assert scores[0] > scores[1]
    assert scores == generator.score_options(prompt, ["Dock Street and Pier 9", "Harbor Road"])
    after = "".join(generator.complete(prompt, max_tokens=16, stop=SHORT_ANSWER_STOP))
    generator.close()
    assert after == before  # scoring leaves no stale logits behind


def test_priming_evaluates_the_opening_once_and_changes_nothing() -> None:
    import llama_cpp

    from qa.config import cache_dir
    from qa.generators import LlamaGenerator
    from qa.models import default_gguf
    from qa.prompts import SHORT_ANSWER_EXAMPLES, SHORT_ANSWER_STOP, SHORT_ANSWER_TEMPLATE

    path = default_gguf(cache_dir())
    assert path is not None
    prompt = SHORT_ANSWER_EXAMPLES + SHORT_ANSWER_TEMPLATE.format(
        context="The Riverton council voted on Tuesday to keep the ferry terminals at Dock "
                "Street and Pier 9 open all winter.",
        question="Which terminals will stay open?")

    def answer(generator: LlamaGenerator) -> tuple[str, int]:
        llm = generator.load()
        llama_cpp.llama_perf_context_reset(llm._ctx.ctx)
        text = "".join(generator.complete(prompt, max_tokens=16, stop=SHORT_ANSWER_STOP))
        return text, llama_cpp.llama_perf_context(llm._ctx.ctx).n_p_eval

    cold = LlamaGenerator(path)
    cold_text, cold_tokens = answer(cold)
    cold.close()
    primed = LlamaGenerator(path)
    primed.prime(SHORT_ANSWER_EXAMPLES)
    primed_text, primed_tokens = answer(primed)
    opening = primed.count_tokens(SHORT_ANSWER_EXAMPLES)
    primed.close()
    assert primed_text == cold_text
    assert cold_tokens >= primed.count_tokens(prompt)  # the whole prompt (and any BOS token)
    assert primed_tokens <= cold_tokens - opening + 2  # tokenised apart, the seam may differ
