"""`newsqa serve`: the HTTP API through the real app (FastAPI's TestClient, and a real uvicorn
on a loopback port), with the fakes of tests/fakes.py; once with the real models."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from rich.console import Console
from typer.testing import CliRunner

from qa.app.cli import app as cli_app
from qa.app.options import context
from qa.app.repl import Session
from qa.app.server.api import create_app
from qa.app.server.service import Query, Service
from tests.fakes import FakeEmbedder, FakeGenerator
from tests.served import (
    BASES,
    LOCAL,
    SCRIPT,
    BrokenGenerator,
    SlowGenerator,
    events,
    fake_service,
    serving,
)

runner = CliRunner()


@pytest.fixture
def client(service: Service) -> Iterator[TestClient]:
    with TestClient(create_app(service), base_url=LOCAL) as test_client:
        yield test_client


def _without_timings(answer: dict[str, Any]) -> dict[str, Any]:
    """The answer object as `newsqa ask --json` prints it, but its timings (what the API adds
    is left out: `closest`)."""
    return {k: v for k, v in answer.items() if k not in ("timings", "closest")}


def test_ask_returns_what_newsqa_ask_json_prints(client: TestClient) -> None:
    printed = json.loads(runner.invoke(cli_app, ["ask", "--json", "--k", "4", BASES]).stdout)
    response = client.post("/api/ask", json={"question": BASES, "k": 4})
    assert response.status_code == 200
    answer = response.json()
    assert _without_timings(answer) == _without_timings(printed)
    assert answer["answerable"] and "Khmeimim" in answer["answer"]
    assert set(answer["timings"]) == set(printed["timings"])
    # With filters too: nothing on Syria before December is a refusal, with closest sources.
    refused = client.post("/api/ask", json={"question": BASES, "until": "2024-11-30"}).json()
    assert refused["answerable"] is False and refused["citations"] == []
    assert refused["retrieved"]
    # Added: the closest articles, each once, best first, with what a reader picks them by.
    ids = list(dict.fromkeys(r["article_id"] for r in refused["retrieved"]))
    assert [c["article_id"] for c in refused["closest"]] == ids
    assert set(refused["closest"][0]) == {"article_id", "title", "source", "published", "url"}
    assert all(c["published"] <= "2024-11-30" for c in refused["closest"])


def test_the_stream_sends_stages_draft_answer_each_citation_once_then_done(
        client: TestClient) -> None:
    response = client.get("/api/ask", params={"q": BASES})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["x-accel-buffering"] == "no"
    sent = events(response.text)
    names = [name for name, _ in sent]
    stages = [data["stage"] for name, data in sent if name == "status"]
    assert stages == ["retrieving", "generating", "verifying"]
    first_draft, answer_at = names.index("draft"), names.index("answer")
    assert names.index("status") < first_draft < answer_at < names.index("citation")
    assert names[-1] == "done" and names.count("answer") == 1
    draft = "".join(data["text"] for name, data in sent if name == "draft")
    assert draft.strip() == SCRIPT["bases"]
    answer = sent[answer_at][1]
    assert "citations" not in answer and answer["answerable"] and answer["closest"]
    assert answer["answer"] == "Tartus naval base and the Khmeimim air base [1]."
    citations = [data for name, data in sent if name == "citation"]
    posted = client.post("/api/ask", json={"question": BASES}).json()
    assert [{k: v for k, v in c.items() if k not in ("start", "end")} for c in citations] \
        == posted["citations"]
    assert len({c["key"] for c in citations}) == len(citations)  # each one once
    for citation in citations:
        text = client.get(f"/api/articles/{citation['article_id']}").json()["text"]
        assert text[citation["start"]:citation["end"]] == citation["quote"]


def test_news_notes_are_their_own_events(client: TestClient) -> None:
    # "latest" questions carry a note naming the newest report (qa/answer/news.py).
    posted = client.post("/api/ask", json={"question": "What is the latest on the bases Russia "
                                                       "intends to keep?"}).json()
    sent = events(client.get("/api/ask", params={"q": posted["question"]}).text)
    notes = [data["text"] for name, data in sent if name == "note"]
    assert notes == posted["notes"]
    answer = next(data for name, data in sent if name == "answer")
    assert ("notes" in answer) == bool(posted["notes"])


def test_a_follow_up_is_rewritten_as_the_repl_rewrites_it(client: TestClient) -> None:
    # Earlier questions this server has not answered carry their topic alone.
    alone = client.post("/api/ask", json={"question": "and who reported it?",
                                          "previous": [BASES]}).json()
    assert alone["question"] == "Who reported it? (Which bases does Russia intend to keep)"
    client.get("/api/ask", params={"q": BASES})  # the page asks, then follows up
    sent = events(client.get("/api/ask", params={
        "q": "and who reported it?", "previous": [BASES]}).text)
    asked = next(data["question"] for name, data in sent if name == "status")
    assert asked.startswith("Who reported it? (Which bases does Russia intend to keep: Tartus")
    # The REPL, asked the same two questions, answers the same rewritten question.
    with context(generator=True).open_index(embedder=FakeEmbedder()) as index:
        session = Session(index=index, embedder=FakeEmbedder(), generator=FakeGenerator(SCRIPT),
                          console=Console(file=io.StringIO()))
        session.handle(BASES)
        session.handle("and who reported it?")
    assert session.turns[-1].question == asked
    posted = client.post("/api/ask", json={"question": "and who reported it?",
                                           "previous": [BASES]}).json()
    assert posted["question"] == asked
    assert posted == {**posted, **{"answer": session.turns[-1].answer.answer}}


@pytest.mark.parametrize(("body", "status", "message", "hint"), [
    ({"question": "x" * 2001}, 400, "the question is 2,001 characters long (at most 2,000)",
     "ask a shorter question"),
    ({"question": "   "}, 400, "the question is empty", 'ask something, e.g. newsqa ask "..."'),
    ({"question": BASES, "since": "soonish"}, 400, "--since 'soonish' is not a date",
     "write it as --since 2024-12-09"),
    ({"question": BASES, "as_of": "the 5th"}, 400, "--as-of 'the 5th' is not a date",
     "write it as --as-of 2024-12-09"),
    ({"question": BASES, "k": 0}, 400, "--k must be between 1 and 100", "try --k 5"),
    ({"question": BASES, "k": 101}, 400, "--k must be between 1 and 100", "try --k 5"),
    ({"question": BASES, "source": "Gazette"}, 400,
     "--source 'Gazette' matches no outlet in the index",
     "the outlets: Evening Dispatch, Harbor Ledger, Lakeside Courier, Meridian Post, "
     "Northgate Wire"),
    ({"question": BASES, "k": "five"}, 400, "--k 'five' is not a whole number", "try --k 5"),
    ({"question": BASES, "k": 2.5}, 400,
     "k: Input should be a valid integer, got a number with a fractional part",
     "see the API at /docs"),
    ({"question": BASES, "previous": "not a list"}, 400,
     "previous: Input should be a valid list", "see the API at /docs"),
    ({}, 400, "question: Field required", "see the API at /docs"),
])
def test_bad_input_is_a_4xx_with_the_clis_message_and_hint(
        client: TestClient, body: dict[str, Any], status: int, message: str, hint: str) -> None:
    response = client.post("/api/ask", json=body)
    assert (response.status_code, response.json()) == (status, {"error": message,
                                                                "hint": hint})
    if "question" in body and "see the API at /docs" not in hint:
        params = {"q" if key == "question" else key: value for key, value in body.items()}
        sent = events(client.get("/api/ask", params=params).text)
        assert sent == [("error", {"message": message, "hint": hint, "status": status})]
        searched = client.get("/api/search", params=params)
        assert (searched.status_code, searched.json()["error"]) == (status, message)


def test_empty_fields_are_no_filters(client: TestClient) -> None:
    empty = {"since": "", "until": "", "as_of": "", "source": "", "k": ""}
    plain = client.post("/api/ask", json={"question": BASES}).json()
    posted = client.post("/api/ask", json={"question": BASES, **empty}).json()
    assert _without_timings(posted) == _without_timings(plain)
    sent = events(client.get("/api/ask", params={"q": BASES, **empty}).text)
    assert sent[-1][0] == "done"
    found = client.get("/api/search", params={"q": BASES, **empty})
    assert found.status_code == 200 and found.json()["hits"]


def test_the_cli_prints_the_same_words(served_folder: Path) -> None:
    result = runner.invoke(cli_app, ["ask", "--since", "soonish", BASES])
    assert result.exit_code == 1
    assert "--since 'soonish' is not a date" in result.stderr
    assert "write it as --since 2024-12-09" in result.stderr


def test_an_unknown_article_is_a_404(client: TestClient) -> None:
    response = client.get("/api/articles/0000000000000000")
    assert response.status_code == 404
    assert response.json() == {"error": "no stored article has the id '0000000000000000'",
                               "hint": "ids come from an answer's citations or a search"}


def test_an_article_with_its_copies_and_the_quotes_place(client: TestClient) -> None:
    info = client.get("/api/index").json()
    assert info["copies"] == 1  # the sample holds one syndicated copy
    copy_of = client.get("/api/search", params={"q": "Damascus captured, Assad's rule ends"}
                         ).json()
    articles = [client.get(f"/api/articles/{h['article_id']}").json()
                for h in copy_of["hits"]]
    carried = [a for a in articles if a["copies"]]
    assert carried, "the sample's wire story and its copy"
    article = carried[0]
    assert set(article["copies"][0]) == {"article_id", "url", "title", "source", "published"}
    assert article["copies"][0]["source"] != article["source"]
    quote = article["text"][10:60]
    placed = client.get(f"/api/articles/{article['id']}", params={"quote": quote}).json()
    assert article["text"][placed["start"]:placed["end"]] == quote
    absent = client.get(f"/api/articles/{article['id']}", params={"quote": "not in it"})
    assert absent.json()["start"] is None and absent.json()["end"] is None


def test_index_info_has_outlets_and_dates_for_the_filters(client: TestClient) -> None:
    printed = json.loads(runner.invoke(cli_app, ["index", "info", "--json"]).stdout)
    info = client.get("/api/index").json()
    assert {k: v for k, v in info.items() if k not in ("size_bytes", "name", "sources",
                                                       "first_published", "last_published")
            } == {k: v for k, v in printed.items() if k != "size_bytes"}
    assert info["name"] == "default" and info["articles"] == 24
    assert info["sources"] == ["Evening Dispatch", "Harbor Ledger", "Lakeside Courier",
                               "Meridian Post", "Northgate Wire"]
    assert (info["first_published"], info["last_published"]) == ("2024-11-20", "2024-12-19")


def test_search_returns_passages_without_generating(served_folder: Path) -> None:
    generator = FakeGenerator(SCRIPT)
    service = fake_service(generator)
    try:
        with TestClient(create_app(service), base_url=LOCAL) as client:
            found = client.get("/api/search", params={"q": BASES, "k": 3,
                                                      "source": "meridian"}).json()
    finally:
        service.close()
    assert found["query"] == BASES and found["hits"]
    assert {h["source"] for h in found["hits"]} == {"Meridian Post"}
    assert len({h["article_id"] for h in found["hits"]}) <= 3
    assert set(found["hits"][0]) == {"article_id", "chunk_id", "title", "source", "published",
                                     "url", "text", "score"}
    assert generator.prompts == []


def test_a_missing_or_empty_index_is_said_not_crashed_on(served_folder: Path) -> None:
    service = fake_service(index="nowhere")
    try:
        with TestClient(create_app(service), base_url=LOCAL) as client:
            for response in (client.post("/api/ask", json={"question": BASES}),
                             client.get("/api/search", params={"q": BASES}),
                             client.get("/api/index")):
                assert response.status_code == 409
                assert response.json()["error"].startswith("no index at ")
                assert "--index" in response.json()["hint"]
            sent = events(client.get("/api/ask", params={"q": BASES}).text)
            assert [name for name, _ in sent] == ["error"]
            assert sent[0][1]["status"] == 409 and sent[0][1]["message"].startswith("no index")
            # An index made meanwhile is found by the next request, without a restart.
            runner.invoke(cli_app, ["ingest", "--sample", "--index", "nowhere"])
            assert client.post("/api/ask", json={"question": BASES}).json()["answerable"]
    finally:
        service.close()


def test_an_unexpected_error_is_a_500_without_a_traceback(
        served_folder: Path, caplog: pytest.LogCaptureFixture) -> None:
    service = fake_service(BrokenGenerator())
    try:
        with TestClient(create_app(service), base_url=LOCAL,
                        raise_server_exceptions=False) as client:
            response = client.post("/api/ask", json={"question": BASES})
            sent = events(client.get("/api/ask", params={"q": BASES}).text)
    finally:
        service.close()
    assert response.status_code == 500
    assert response.json()["error"] == "the server failed to answer (its log says why)"
    assert "secret" not in response.text and "Traceback" not in response.text
    assert sent[-1][0] == "error" and sent[-1][1]["status"] == 500
    assert "secret" not in json.dumps(sent)
    assert "a bug deep inside" in caplog.text  # the log has it


def test_the_host_must_be_the_bound_name(service: Service) -> None:
    from qa.app.server.guard import bound_hosts

    app = create_app(service, allowed_hosts=bound_hosts("127.0.0.1", 8000))
    for base in ("http://127.0.0.1:8000", "http://localhost:8000"):
        with TestClient(app, base_url=base) as client:
            assert client.get("/api/index").status_code == 200
    for base in ("http://attacker.example:8000", "http://127.0.0.1:9999", "http://testserver"):
        with TestClient(app, base_url=base) as client:
            refused = client.get("/api/index")
            assert refused.status_code == 421
            assert "does not answer for the host" in refused.json()["error"]
            assert client.get("/docs").status_code == 421
            assert client.post("/mcp", json={}).status_code == 421
    exposed = create_app(service, allowed_hosts=bound_hosts("news.example", 8443))
    with TestClient(exposed, base_url="http://news.example:8443") as client:
        assert client.get("/api/index").status_code == 200
    with TestClient(exposed, base_url=LOCAL) as client:
        assert client.get("/api/index").status_code == 421
    # Bound to every address (which needs a key), any name the machine has is its name.
    assert bound_hosts("0.0.0.0", 8000) == ["*"]
    everywhere = create_app(service, allowed_hosts=bound_hosts("0.0.0.0", 8000), api_key="k")
    with TestClient(everywhere, base_url="http://192.0.2.7:8000",
                    headers={"Authorization": "Bearer k"}) as client:
        assert client.get("/api/index").status_code == 200


def test_an_api_key_is_required_of_every_api_and_mcp_request(service: Service) -> None:
    app = create_app(service, api_key="k3y-long-and-random")
    with TestClient(app, base_url=LOCAL) as client:
        for method, path in (("GET", "/api/index"), ("POST", "/api/ask"), ("GET", "/api/ask"),
                             ("GET", "/api/articles/x"), ("POST", "/mcp")):
            response = client.request(method, path)
            assert response.status_code == 401, path
            assert response.json()["error"] == "this server needs its API key"
            assert response.headers["www-authenticate"] == "Bearer"
        wrong = client.get("/api/index", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        right = client.get("/api/index", headers={"Authorization": "Bearer k3y-long-and-random"})
        assert right.status_code == 200 and right.json()["articles"] == 24
        assert client.get("/docs").status_code == 200  # the docs page holds no data


def test_serving_beyond_loopback_needs_a_key(served_folder: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    result = runner.invoke(cli_app, ["serve", "--host", "0.0.0.0"])
    assert result.exit_code == 1
    assert "--host 0.0.0.0 would expose the archive beyond this machine" in result.stderr
    assert "NEWSQA_API_KEY" in result.stderr


def test_cors_is_off_unless_an_origin_is_given(service: Service) -> None:
    page = {"Origin": "https://newsroom.example"}
    preflight = {**page, "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "content-type"}
    with TestClient(create_app(service), base_url=LOCAL) as client:
        response = client.get("/api/index", headers=page)
        assert "access-control-allow-origin" not in response.headers
        assert "access-control-allow-origin" not in client.options(
            "/api/ask", headers=preflight).headers
    app = create_app(service, cors_origin="https://newsroom.example", api_key="k")
    with TestClient(app, base_url=LOCAL) as client:
        allowed = client.options("/api/ask", headers=preflight)
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://newsroom.example"
        response = client.get("/api/index", headers={**page, "Authorization": "Bearer k"})
        assert response.headers["access-control-allow-origin"] == "https://newsroom.example"
        other = client.get("/api/index", headers={"Origin": "https://elsewhere.example",
                                                  "Authorization": "Bearer k"})
        assert "access-control-allow-origin" not in other.headers


def test_an_ingest_while_serving_is_seen_by_the_next_question(client: TestClient,
                                                              served_folder: Path) -> None:
    question = "Which ferry company will run the night crossing?"
    before = client.post("/api/ask", json={"question": question}).json()
    assert not before["answerable"]
    assert client.get("/api/index").json()["articles"] == 24
    news = served_folder / "news.jsonl"
    news.write_text(json.dumps({
        "url": "https://harborledger.example/2024/12/20/night-ferry",
        "title": "Night ferry crossing to start in March", "published": "2024-12-20",
        "source": "Harbor Ledger",
        "text": "The Harbor Line will run the new night ferry crossing between Alder Bay and "
                "Riverton from March, the port authority said on Friday. The ferry company "
                "won the contract over two rivals."}) + "\n", encoding="utf-8")
    assert runner.invoke(cli_app, ["ingest", str(news)]).exit_code == 0  # its own connection
    after = client.post("/api/ask", json={"question": question}).json()
    assert after["answerable"] and "Harbor Line" in after["answer"]
    assert after["citations"][0]["title"] == "Night ferry crossing to start in March"
    info = client.get("/api/index").json()
    assert info["articles"] == 25 and info["last_published"] == "2024-12-20"


def test_questions_are_answered_one_at_a_time_in_the_order_asked(served_folder: Path) -> None:
    generator = SlowGenerator(SCRIPT, delay=0.01)
    service = fake_service(generator)
    order: list[str] = []
    questions = [BASES, "Who reported that Russia intends to keep its bases?",
                 "Which ferry company runs the crossing?"]
    try:
        futures = [service.submit(Query(q), lambda _: None, threading.Event())
                   for q in questions]
        for future in futures:
            future.add_done_callback(lambda f: order.append(f.result().answer.question))
        answers = [f.result(timeout=60).answer for f in futures]
    finally:
        service.close()
    assert order == questions == [a.question for a in answers]
    asked = [p.rsplit("Question: ", 1)[1].splitlines()[0] for p in generator.prompts]
    assert [q for q in dict.fromkeys(asked)] == questions[:len(dict.fromkeys(asked))]


def test_a_closed_stream_stops_its_generation_and_the_next_client_is_served(
        served_folder: Path) -> None:
    words = " ".join(f"word{n}" for n in range(200))
    generator = SlowGenerator({"bases": words, "marathon": "Orlin Maddox [1]"}, delay=0.02)
    service = fake_service(generator)
    try:
        stream = service.stream(Query(BASES))
        for name, _ in ((e.name, e.data) for e in stream):
            if name == "draft":
                break
        waiting = service.submit(Query("Who won the Riverton marathon?"), lambda _: None,
                                 threading.Event())
        stream.close()  # the client has gone
        second = waiting.result(timeout=30).answer
        stopped_at = generator.pieces
    finally:
        service.close()
    assert stopped_at < 100, "the first generation ran on after its client left"
    assert second.question == "Who won the Riverton marathon?"


def test_over_http_a_client_that_leaves_frees_the_model_for_the_next(
        served_folder: Path) -> None:
    import httpx2

    words = " ".join(f"word{n}" for n in range(300))
    generator = SlowGenerator({"bases": words, "marathon": "Orlin Maddox [1]"}, delay=0.02)
    service = fake_service(generator)
    try:
        with serving(create_app(service, allowed_hosts=["127.0.0.1"])) as url, \
                httpx2.Client(base_url=url, timeout=30) as http:
            with http.stream("GET", "/api/ask", params={"q": BASES}) as stream:
                for line in stream.iter_lines():
                    if line.startswith("event: draft"):
                        break  # leave after the first piece
            started = generator.pieces
            answer = http.post("/api/ask", json={"question": "Who won the Riverton marathon?"})
            stopped_at = generator.pieces
    finally:
        service.close()
    assert answer.status_code == 200
    assert answer.json()["question"] == "Who won the Riverton marathon?"
    # The first draft (300 pieces, 6 s) stopped soon after its client left.
    assert started < 300 and stopped_at < 150


@pytest.mark.models
def test_the_seed_question_with_the_real_models(sample_dir: Path, fake_models: None,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import run_newsqa

    monkeypatch.chdir(sample_dir)
    for name in ("NEWSQA_MODEL", "NEWSQA_INDEX_DIR", "NEWSQA_API_KEY", "NEWSQA_LLM"):
        monkeypatch.delenv(name, raising=False)
    printed = run_newsqa(sample_dir, "ask", "--json", BASES)
    assert printed.returncode == 0, printed.stderr
    service = Service(context(generator=True))  # the real models (fake_models installs none)
    try:
        assert service.warm_up() is None
        with TestClient(create_app(service), base_url=LOCAL) as client:
            answer = client.post("/api/ask", json={"question": BASES}).json()
            sent = events(client.get("/api/ask", params={"q": BASES}).text)
            texts = {c["article_id"]: client.get(f"/api/articles/{c['article_id']}").json()
                     for c in answer["citations"]}
    finally:
        service.close()
    assert answer["answerable"] and "Tartus" in answer["answer"] \
        and "Khmeimim" in answer["answer"]
    expected = json.loads(printed.stdout)
    assert (answer["answer"], answer["citations"]) == (expected["answer"],
                                                       expected["citations"])
    for citation in answer["citations"]:
        assert citation["quote"] in texts[citation["article_id"]]["text"]
    names = [name for name, _ in sent]
    assert "draft" in names and names[-1] == "done"
    streamed = next(data for name, data in sent if name == "answer")
    assert streamed["answer"] == answer["answer"]


def test_the_api_is_described_at_docs(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200 and "/openapi.json" in page.text
    schema = client.get("/openapi.json").json()
    assert {"/api/ask", "/api/search", "/api/articles/{article_id}", "/api/index"} \
        <= set(schema["paths"])
    assert set(schema["paths"]["/api/ask"]) == {"get", "post"}
    streamed = {p["name"] for p in schema["paths"]["/api/ask"]["get"]["parameters"]}
    assert streamed == {"q", "since", "until", "as_of", "source", "k", "previous"}


def test_over_http_a_post_whose_client_left_frees_its_turn(served_folder: Path) -> None:
    import httpx2

    words = " ".join(f"word{n}" for n in range(300))
    generator = SlowGenerator({"bases": words, "marathon": "Orlin Maddox [1]"}, delay=0.02)
    service = fake_service(generator)
    try:
        with serving(create_app(service, allowed_hosts=["127.0.0.1"])) as url:
            with pytest.raises(httpx2.TimeoutException):
                httpx2.post(f"{url}/api/ask", json={"question": BASES}, timeout=1.0)
            answer = httpx2.post(f"{url}/api/ask", timeout=30,
                                 json={"question": "Who won the Riverton marathon?"})
            stopped_at = generator.pieces
    finally:
        service.close()
    assert answer.status_code == 200 and answer.json()["answerable"] is not None
    assert stopped_at < 200, "the first generation ran on after its client left"


def test_an_index_made_again_is_reopened(client: TestClient, served_folder: Path) -> None:
    import shutil

    assert client.get("/api/index").json()["articles"] == 24
    shutil.rmtree(served_folder / "indexes" / "default")
    news = served_folder / "one.jsonl"
    news.write_text(json.dumps({"url": "https://harborledger.example/2024/12/21/gull-point",
                                "title": "Gull Point lighthouse relit", "source": "Harbor Ledger",
                                "published": "2024-12-21",
                                "text": "The Gull Point lighthouse was relit on Saturday after "
                                        "a restoration that took two years."}) + "\n",
                    encoding="utf-8")
    assert runner.invoke(cli_app, ["ingest", str(news)]).exit_code == 0
    info = client.get("/api/index").json()
    assert info["articles"] == 1 and info["sources"] == ["Harbor Ledger"]
    found = client.get("/api/search", params={"q": "Gull Point lighthouse"}).json()
    assert [h["title"] for h in found["hits"]] == ["Gull Point lighthouse relit"]


def test_too_many_waiting_is_a_429(served_folder: Path) -> None:
    from qa.app.context import use_models
    from tests.fakes import FakeModels

    generator = SlowGenerator({"bases": " ".join(["word"] * 100)}, delay=0.02)
    use_models(FakeModels(FakeEmbedder, lambda path: generator))
    service = Service(context(generator=True), max_waiting=1)
    try:
        running = service.submit(Query(BASES), lambda _: None, threading.Event())
        while generator.pieces == 0:  # the first is answering; the next one waits
            threading.Event().wait(0.01)
        waiting = service.submit(Query(BASES), lambda _: None, threading.Event())
        with TestClient(create_app(service), base_url=LOCAL) as client:
            refused = client.post("/api/ask", json={"question": BASES})
        assert refused.status_code == 429
        assert refused.json() == {"error": "1 request is already waiting",
                                  "hint": "try again in a moment"}
        assert running.result(timeout=60).answer.question == BASES
        assert waiting.result(timeout=60).answer.question == BASES
    finally:
        service.close()
