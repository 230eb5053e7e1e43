"""Scoring a run from its records, without an index: metrics pinned on a small invented set,
and the line format of `answers.jsonl` kept byte for byte."""

from __future__ import annotations

import json

import pytest

from qa.core.records import Citation
from qa.eval.answers import AnswerRecord, Retrieved
from qa.eval.questions import Question
from qa.eval.run import RunSettings
from qa.eval.score import score_one, summarize

TEXTS = {"hull": "The ferry's new hull is made of aluminium, the yard said.",
         "mayor": "Mayor Ines Calloway opened the ferry line on Monday.",
         "opera": "The opera house will stage three operas next season."}
GOLD = {"hull": {"hull"}, "line": {"mayor"}, "season": {"opera"}, "nobody": set()}
QUESTIONS = [
    Question("hull", "What is the hull made of?", answers=("aluminium",), gold_urls=("u1",)),
    Question("line", "Who opened the ferry line?", answers=("Ines Calloway",),
             choices=("Ines Calloway", "Tomas Berg"), gold_urls=("u2",)),
    Question("season", "How many operas next season?", answers=("three",), gold_urls=("u3",)),
    Question("nobody", "Who built the ferry's engine?", answers=()),
]


def _cite(article_id: str, quote: str) -> Citation:
    return Citation(1, article_id, None, "", None, None, quote)


def _hits(*ids: str) -> tuple[Retrieved, ...]:
    return tuple(Retrieved(a, f"{a}#0", 1.0 / n) for n, a in enumerate(ids, start=1))


RECORDS = [
    AnswerRecord("hull", QUESTIONS[0].question, "aluminium [1].", True,
                 (_cite("hull", "made of aluminium"),), _hits("hull", "mayor"), wall_s=2.0),
    AnswerRecord("line", QUESTIONS[1].question, "Mayor Calloway [1].", True,
                 (_cite("mayor", "Mayor Ines Calloway"), _cite("opera", "not in it")),
                 _hits("opera", "mayor"), choice="Ines Calloway", choice_index=0,
                 choice_rule="coverage+closeness", wall_s=4.0),
    AnswerRecord("season", QUESTIONS[2].question, "", False, (), _hits("hull"),
                 wall_s=1.0),
    AnswerRecord("nobody", QUESTIONS[3].question, "", False, (), (), wall_s=3.0),
]


def test_metrics_are_pinned_on_a_small_set() -> None:
    scored = [score_one(q, r, GOLD[q.id], TEXTS.get)
              for q, r in zip(QUESTIONS, RECORDS, strict=True)]
    report = summarize(scored, questions=5, gold_in_index=3, wall_s=12.3456, k=10)
    assert report["questions"] == 5 and report["answered"] == 4
    assert report["retrieval"] == {"n": 3, "gold_in_index": 3, "recall@1": 0.3333,
                                   "recall@5": 0.6667, "recall@10": 0.6667, "mrr@10": 0.5}
    # "Mayor Calloway" is not "Ines Calloway" but shares a word: F1 0.5, right, not exact.
    assert report["answers"] == {"n": 3, "exact_match": 0.3333, "f1": 0.5,
                                 "contains_gold": 0.3333, "n_answered": 2, "precision": 1.0}
    assert report["multiple_choice"] == {"n": 1, "accuracy": 1.0,
                                         "rules": {"coverage+closeness": 1}}
    assert report["citations"] == {"n": 3, "cites_gold": 0.6667, "gold_share": 0.6667,
                                   "quotes": 3, "quote_exact": 0.6667}
    assert report["refusals"] == {"n_unanswerable": 1, "refusal_rate": 1.0,
                                  "n_answerable": 3, "false_refusal_rate": 0.3333}
    assert report["latency"] == {"n": 4, "p50_s": 2.5, "p90_s": 3.7, "wall_s": 12.346}
    assert report["latencies_s"] == [2.0, 4.0, 1.0, 3.0]
    shallow = summarize(scored, questions=5, gold_in_index=3, k=3)
    assert shallow["retrieval"]["recall@5"] is None and shallow["retrieval"]["mrr@10"] is None


def test_a_line_of_answers_is_written_as_before() -> None:
    error = ('{"id": "q1", "question": "Who rebuilt the hull?", "answer": "", "answerable": '
             'false, "citations": [], "retrieved": [], "model": "m.gguf", "timings": {}, '
             '"error": "the index holds no articles", "wall_s": 0.0012}')
    record = AnswerRecord("q1", "Who rebuilt the hull?", model="m.gguf",
                          error="the index holds no articles", wall_s=0.0012)
    assert json.dumps(record.to_json(), ensure_ascii=False) == error
    assert AnswerRecord.from_json(json.loads(error)) == record
    answered = {"id": "q2", "question": "Which opera?", "answer": "Tosca [1].",
                "answerable": True, "citations": [_cite("opera", "Tosca").to_json()],
                "retrieved": [r.to_json() for r in _hits("opera")], "notes": [],
                "model": "m.gguf",
                "timings": {"total_s": 1.5}, "draft": "Tosca", "evidence": [],
                "choice": "Tosca", "choice_index": 1, "choice_rule": "likelihood",
                "wall_s": 1.6, "from_a_later_version": 1}
    line = json.dumps(answered, ensure_ascii=False)
    parsed = AnswerRecord.from_json(json.loads(line))
    assert parsed is not None and json.dumps(parsed.to_json(), ensure_ascii=False) == line
    assert AnswerRecord.from_json({"id": "q3"}) is None  # nothing to resume or score


def test_run_settings_keep_the_saved_shape_and_name_it() -> None:
    saved = {"questions": "q.jsonl", "index": "indexes/default", "k": 10, "model": "m.gguf",
             "filters": [None, "2024-03-01", None], "vector_store": "faiss"}
    settings = RunSettings.from_json(saved)
    assert settings.to_json() == saved
    assert settings.fingerprint() == RunSettings.from_json(dict(saved)).fingerprint()
    assert settings.fingerprint() != RunSettings.from_json({**saved, "k": 3}).fingerprint()
    with pytest.raises(KeyError):
        RunSettings.from_json({k: v for k, v in saved.items() if k != "model"})
