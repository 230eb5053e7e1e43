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
    from qa.answer.prompts import SHORT_ANSWER_STOP, SHORT_ANSWER_TEMPLATE
    from qa.core.settings import cache_dir
    from qa.models.catalog import default_gguf
    from qa.models.generators import LlamaGenerator

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

    from qa.answer.prompts import SHORT_ANSWER_EXAMPLES, SHORT_ANSWER_STOP, SHORT_ANSWER_TEMPLATE
    from qa.core.settings import cache_dir
    from qa.models.catalog import default_gguf
    from qa.models.generators import LlamaGenerator

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


# Questions about the sample, each written to catch one way a verified answer was wrong
# (issue 15): right, or refused, never the wrong answer the old pipeline gave.
RIGHT_OR_REFUSED = [
    # (question, words a given answer must have, words it must not have, must it answer?)
    ("Who won the women's race at the Riverton Winter Marathon?", ["Sigrid Paulsen"],
     ["Orlin"], True),
    ("Who won the men's race at the Riverton Winter Marathon?", ["Orlin Maddox"],
     ["Paulsen"], False),
    ("How long did it take Orlin Maddox to finish the marathon?", ["2 hours"],
     ["12", "three years"], True),
    ("How long did it take him? (Who won the Riverton Winter Marathon: Orlin Maddox)",
     ["2 hours"], ["12"], False),
    ("What is the latest count of homes damaged by the Alder Bay storm?", ["212"], ["140"], True),
    # A later story's "more than 200" agrees with the Dec. 2 count; it does not replace it.
    ("How many homes did the Alder Bay storm damage, at the latest count?", ["212"],
     ["140", "more than 200"], False),
    ("How much did Loomgrid raise, and who led the round?", ["$12 million", "Sablewood"], [],
     True),
    ("How many daily sailings does the winter ferry add?", ["three"], ["186,000", "12"], False),
]


def test_answers_are_right_or_refused(sample_dir: Path, tmp_path: Path) -> None:
    questions = tmp_path / "questions.jsonl"
    questions.write_text("".join(json.dumps({"id": str(n), "question": q}) + "\n"
                                 for n, (q, *_) in enumerate(RIGHT_OR_REFUSED)), encoding="utf-8")
    result = run_newsqa(sample_dir, "eval", str(questions), "--out", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr
    records = {r["id"]: r for r in map(json.loads, (tmp_path / "run" / "answers.jsonl")
                                       .read_text(encoding="utf-8").splitlines())}
    for n, (question, right, wrong, must_answer) in enumerate(RIGHT_OR_REFUSED):
        record = records[str(n)]
        answer = record["answer"].lower()
        if record["answerable"]:
            assert all(w.lower() in answer for w in right), (question, record["answer"])
        else:
            assert not must_answer, (question, record.get("draft"))
        assert not any(re.search(rf"(?<![\w$,.]){re.escape(w.lower())}(?![\w,])", answer)
                       for w in wrong), (question, record["answer"])
    latest = records["4"]
    assert any("up from" in note and "140" in note for note in latest["notes"]), latest
