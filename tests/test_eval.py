import json
import re
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qa.app.cli import app
from qa.app.context import use_models
from qa.core.errors import NewsqaError
from qa.eval.questions import load_questions
from tests.conftest import ARTICLES
from tests.fake_cli import DELAY, start
from tests.fakes import FakeEmbedder, FakeGenerator, FakeModels

runner = CliRunner()

QUESTIONS = [
    {"id": "cost", "question": "How much will the Alder Bay footbridge cost?",
     "answers": ["$4.2 million"], "gold_urls": [ARTICLES[0]["url"] + "?ref=feed"],
     "choices": ["$1 million", "$4.2 million", "$9 million", "$12 million"]},
    {"id": "winner", "question": "Who won the Riverton Marathon?", "answers": ["Orlin Maddox"],
     "gold_urls": ["http://dispatch.example/2024/03/09/marathon/"],
     "choices": ["Sigrid Paulsen", "Orlin Maddox", "Leo Brandt", "Mira Okafor"]},
    {"id": "begin", "question": "When will work on the footbridge begin?", "as_of": "2024-03-15",
     "answers": ["June"], "gold_urls": [ARTICLES[0]["url"]]},
    {"id": "nobody", "question": "Who designed the Mill River footbridge?", "answers": []},
]
SCRIPT = {"cost": "$4.2 million", "Marathon": "Sigrid Paulsen", "begin": "June",
          "designed": "Pablo Picasso"}


@pytest.fixture
def setup(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, archive: Path,
          fake_models: None) -> FakeGenerator:
    generator = FakeGenerator(SCRIPT)
    use_models(FakeModels(FakeEmbedder, lambda path: generator))
    monkeypatch.chdir(tmp_path)
    assert runner.invoke(app, ["ingest", str(archive)]).exit_code == 0
    (tmp_path / "q.jsonl").write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS),
                                      encoding="utf-8")
    return generator


def test_eval_writes_every_file_with_pinned_metrics(setup: FakeGenerator, tmp_path: Path) -> None:
    result = runner.invoke(app, ["eval", "q.jsonl", "--out", "run"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "run"
    answers = [json.loads(line) for line in (out / "answers.jsonl").read_text().splitlines()]
    assert [a["id"] for a in answers] == ["cost", "winner", "begin", "nobody"]
    assert answers[0]["answer"] == "$4.2 million [1]." and answers[0]["choice"] == "$4.2 million"
    # The short answer is wrong; the pick weighs the passages, not the answer.
    assert answers[1]["answer"] == "Sigrid Paulsen [1]."
    assert answers[1]["choice"] == "Orlin Maddox"
    assert answers[1]["choice_rule"] == "coverage+closeness"  # the fake cannot score options
    assert answers[3]["answerable"] is False  # "Pablo Picasso" is in no article

    run = (out / "run.trec").read_text().splitlines()
    first = run[0].split()
    assert first[:2] == ["cost", "Q0"] and first[3] == "1" and first[5] == "newsqa"
    qrels = (out / "qrels.txt").read_text().splitlines()
    assert len(qrels) == 3 and qrels[0].startswith("cost 0 ")

    report = json.loads((out / "report.json").read_text())
    assert report["retrieval"]["n"] == 3 and report["retrieval"]["gold_in_index"] == 3
    assert report["answers"] == {"n": 3, "exact_match": pytest.approx(2 / 3, abs=1e-4),
                                 "f1": pytest.approx(2 / 3, abs=1e-4),
                                 "contains_gold": pytest.approx(2 / 3, abs=1e-4),
                                 "n_answered": 3,  # every question was answered,
                                 "precision": pytest.approx(2 / 3, abs=1e-4)}  # two rightly
    assert report["multiple_choice"]["n"] == 2
    assert report["multiple_choice"]["accuracy"] == 1.0
    assert report["citations"]["quote_exact"] == 1.0
    assert report["refusals"]["refusal_rate"] == 1.0
    assert report["refusals"]["false_refusal_rate"] == 0.0  # "winner" is wrong, not refused
    assert report["latency"]["p50_s"] is not None and report["latency"]["wall_s"] > 0
    md = (out / "report.md").read_text()
    assert "| Recall@5 |" in md and "| Exact quotes | 1.000 |" in md
    # Both say which settings produced them.
    stamp = json.loads((out / "run.json").read_text())["settings_fingerprint"]
    assert report["settings_fingerprint"] == stamp and f"`{stamp}`" in md
    assert (out / "report.png").read_bytes()[:4] == b"\x89PNG"

    # The settings that shaped the answers are named by one fingerprint, the same everywhere.
    stamp = json.loads((out / "run.json").read_text())["settings_fingerprint"]
    assert re.fullmatch(r"[0-9a-f]{16}", stamp)
    assert report["settings_fingerprint"] == stamp and f"`{stamp}`" in md


def test_a_run_is_known_by_its_settings_fingerprint(setup: FakeGenerator, tmp_path: Path) -> None:
    assert runner.invoke(app, ["eval", "q.jsonl", "--out", "a", "--limit", "1"]).exit_code == 0
    assert runner.invoke(app, ["eval", "q.jsonl", "--out", "b", "--limit", "1",
                               "--k", "3"]).exit_code == 0
    stamps = [json.loads((tmp_path / out / "run.json").read_text())["settings_fingerprint"]
              for out in ("a", "b")]
    assert stamps[0] != stamps[1]  # another k, another run
    run = json.loads((tmp_path / "a" / "run.json").read_text())
    run["settings_fingerprint"] = "0" * 16  # as if another parameter had shaped it
    (tmp_path / "a" / "run.json").write_text(json.dumps(run))
    clash = runner.invoke(app, ["eval", "q.jsonl", "--out", "a", "--limit", "1"])
    assert clash.exit_code == 1 and "other settings" in clash.stderr
    # A run written before fingerprints is resumed under the same settings.
    del run["settings_fingerprint"]
    (tmp_path / "a" / "run.json").write_text(json.dumps(run))
    assert runner.invoke(app, ["eval", "q.jsonl", "--out", "a", "--limit", "1"]).exit_code == 0


def test_as_of_keeps_later_reports_out(setup: FakeGenerator, tmp_path: Path) -> None:
    runner.invoke(app, ["eval", "q.jsonl", "--out", "run"])
    answers = {json.loads(x)["id"]: json.loads(x)
               for x in (tmp_path / "run" / "answers.jsonl").read_text().splitlines()}
    # The April update ("August") is after as_of; only the March article may be cited.
    assert answers["begin"]["answer"] == "June [1]."
    assert {c["published"] for c in answers["begin"]["citations"]} == {"2024-03-01"}


def test_a_killed_run_resumes_where_it_stopped(setup: FakeGenerator, tmp_path: Path) -> None:
    assert runner.invoke(app, ["eval", "q.jsonl", "--out", "run", "--limit", "2"]).exit_code == 0
    answers_file = tmp_path / "run" / "answers.jsonl"
    with answers_file.open("a") as handle:
        handle.write('{"id": "begin", "answ')  # a line cut short by a kill
    calls = len(setup.prompts)
    result = runner.invoke(app, ["eval", "q.jsonl", "--out", "run", "--limit", "4"])
    assert result.exit_code == 0, result.output
    asked = {p.rsplit("Question: ", 1)[1].split("\n")[0] for p in setup.prompts[calls:]}
    assert asked == {QUESTIONS[2]["question"], QUESTIONS[3]["question"]}  # only the unanswered
    ids = [json.loads(x)["id"] for x in answers_file.read_text().splitlines()]
    assert ids == ["cost", "winner", "begin", "nobody"]
    other = runner.invoke(app, ["eval", "q.jsonl", "--out", "run", "--k", "3"])
    assert other.exit_code == 1 and "other settings" in other.stderr


def test_question_files(tmp_path: Path) -> None:
    txt = tmp_path / "q.txt"
    txt.write_text("# a comment\nWho won?\n\nWhat did it cost?\n", encoding="utf-8")
    assert [(q.id, q.question) for q in load_questions(txt)] == [
        ("q2", "Who won?"), ("q4", "What did it cost?")]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "ok"}\n{"answers": []}\n', encoding="utf-8")
    with pytest.raises(NewsqaError, match=r"bad.jsonl:2: no `question`"):
        load_questions(bad)
    dup = tmp_path / "dup.jsonl"
    dup.write_text('{"id": "a", "question": "x"}\n{"id": "a", "question": "y"}\n')
    with pytest.raises(NewsqaError, match="used twice"):
        load_questions(dup)


def test_an_interrupted_run_pins_its_settings_and_edits_are_not_reused(
        setup: FakeGenerator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Interrupted(FakeGenerator):
        def complete(self, prompt, *, max_tokens, stop):  # type: ignore[no-untyped-def]
            if "Marathon" in prompt.rsplit("Question:", 1)[1]:
                raise KeyboardInterrupt
            yield from super().complete(prompt, max_tokens=max_tokens, stop=stop)

    use_models(FakeModels(FakeEmbedder, lambda path: Interrupted(SCRIPT)))
    assert runner.invoke(app, ["eval", "q.jsonl", "--out", "run"]).exit_code == 130
    assert json.loads((tmp_path / "run" / "run.json").read_text())["settings"]["k"] == 10
    clash = runner.invoke(app, ["eval", "q.jsonl", "--out", "run", "--k", "3"])
    assert clash.exit_code == 1 and "other settings" in clash.stderr

    use_models(FakeModels(FakeEmbedder, lambda path: setup))
    edited = [dict(QUESTIONS[0], question="How much will the new footbridge cost?"),
              *QUESTIONS[1:]]
    (tmp_path / "q.jsonl").write_text("".join(json.dumps(q) + "\n" for q in edited))
    assert runner.invoke(app, ["eval", "q.jsonl", "--out", "run"]).exit_code == 0
    answers = [json.loads(x) for x in (tmp_path / "run" / "answers.jsonl").read_text()
               .splitlines()]
    latest = {a["id"]: a for a in answers}
    assert latest["cost"]["question"] == "How much will the new footbridge cost?"


def test_bad_k_stops_before_any_work(setup: FakeGenerator, tmp_path: Path) -> None:
    result = runner.invoke(app, ["eval", "q.jsonl", "--out", "run", "--k", "0"])
    assert result.exit_code == 1 and "--k must be between" in result.stderr
    assert not (tmp_path / "run").exists()
    shallow = runner.invoke(app, ["eval", "q.jsonl", "--out", "shallow", "--k", "3"])
    assert shallow.exit_code == 0
    report = json.loads((tmp_path / "shallow" / "report.json").read_text())
    assert report["retrieval"]["recall@10"] is None and report["retrieval"]["mrr@10"] is None


def _answers(out: Path) -> list[dict[str, object]]:
    return [json.loads(x) for x in (out / "answers.jsonl").read_text().splitlines()]


def test_a_shorter_run_keeps_every_saved_answer(setup: FakeGenerator, tmp_path: Path) -> None:
    assert runner.invoke(app, ["eval", "q.jsonl", "--out", "run"]).exit_code == 0
    saved = (tmp_path / "run" / "answers.jsonl").read_text()
    calls = len(setup.prompts)
    result = runner.invoke(app, ["eval", "q.jsonl", "--out", "run", "--limit", "2"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "run" / "answers.jsonl").read_text() == saved  # nothing lost or added
    assert len(setup.prompts) == calls  # both answers reused
    assert json.loads((tmp_path / "run" / "report.json").read_text())["questions"] == 2
    # The whole file again: all four answers are still there, none is asked again.
    assert runner.invoke(app, ["eval", "q.jsonl", "--out", "run"]).exit_code == 0
    assert len(setup.prompts) == calls
    assert [a["id"] for a in _answers(tmp_path / "run")] == ["cost", "winner", "begin", "nobody"]


def test_a_second_eval_into_the_same_folder_is_refused(setup: FakeGenerator,
                                                       tmp_path: Path) -> None:
    writer = start("eval", "q.jsonl", "--out", "run", cwd=tmp_path, **{DELAY: "3"})
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "run" / "run.json").exists():  # it holds the folder
            assert writer.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        second = runner.invoke(app, ["eval", "q.jsonl", "--out", "run"])
        message = " ".join(second.stderr.split())
        assert second.exit_code == 1 and "another newsqa eval is writing run" in message, message
        assert "another --out" in message and "Traceback" not in second.output
        assert writer.poll() is None, "the first run finished before the check"
    finally:
        writer.kill()  # as kill -9 would: its lock goes with its process
        writer.communicate(timeout=60)
    result = runner.invoke(app, ["eval", "q.jsonl", "--out", "run"])
    assert result.exit_code == 0, result.output
    assert sorted(a["id"] for a in _answers(tmp_path / "run")) == sorted(
        q["id"] for q in QUESTIONS)  # each question answered once


def test_a_damaged_run_file_is_a_clear_error(setup: FakeGenerator, tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "run.json").write_text('{"settings": ' + "9" * 5000 + "}")
    result = runner.invoke(app, ["eval", "q.jsonl", "--out", "run"])
    assert result.exit_code == 1 and "is not the settings of a run" in result.stderr
    assert runner.invoke(app, ["eval", "q.jsonl", "--out", "run", "--restart"]).exit_code == 0


def test_a_run_saved_before_fingerprints_resumes_and_gets_one(setup: FakeGenerator,
                                                              tmp_path: Path) -> None:
    assert runner.invoke(app, ["eval", "q.jsonl", "--out", "run", "--limit", "2"]).exit_code == 0
    run_file = tmp_path / "run" / "run.json"
    run = json.loads(run_file.read_text())
    stamp = run.pop("settings_fingerprint")
    run_file.write_text(json.dumps(run, indent=2) + "\n")  # as a run of an earlier version
    assert runner.invoke(app, ["eval", "q.jsonl", "--out", "run"]).exit_code == 0
    resumed = json.loads(run_file.read_text())
    assert resumed["settings_fingerprint"] == stamp and resumed["sessions"] == 2
    other = runner.invoke(app, ["eval", "q.jsonl", "--out", "other", "--k", "3"])
    assert other.exit_code == 0
    assert json.loads((tmp_path / "other" / "run.json").read_text())[
        "settings_fingerprint"] != stamp
