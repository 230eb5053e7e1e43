"""The page of `newsqa serve` in a real browser: Debian's Chromium (`apt-get install chromium`;
nothing is downloaded by a browser installer) driven by Playwright for Python, against a real
uvicorn server this module starts on a free loopback port, over the bundled sample.

Most tests answer with the deterministic fakes of tests/fakes.py; one (`models`) with the real
bundled models. Each state the issue names is saved as a screenshot: into a temporary folder,
or into `docs/screenshots/` with `NEWSQA_SCREENSHOTS=docs/screenshots`.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from typer.testing import CliRunner

from qa.app.cli import SAMPLE
from qa.app.cli import app as cli_app
from qa.app.context import use_models
from qa.app.options import context
from tests.fakes import FakeEmbedder, FakeGenerator, FakeModels

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ROOT = Path(__file__).resolve().parents[1]

BASES = "Which bases does Russia intend to keep?"
CHINA = "What did China's foreign ministry say about the withdrawal?"  # not in the sample
SCRIPT = {"so far": "140 homes [1]", "bases": "Tartus naval base and the Khmeimim air base [1]",
          "reported": "TASS [1]", "Damascus": "Syrian opposition forces [1]",
          "homes": "212 homes [1]", "Marrow": "Quill Street [1]"}
# An article written to attack the page: its fields are markup and script, to be shown as text.
HOSTILE = {"url": "https://mischief.example/2024/12/12/marrow",
           "title": "<img src=x onerror=\"window.pwned=1\"> Marrow Lane <b>reopens</b>",
           "published": "2024-12-12", "source": "<script>window.pwned=2</script>Mischief Gazette",
           "text": "The Marrow Lane footpath <script>window.pwned=3</script> reopened on "
                   "Quill Street <img src=x onerror=\"window.pwned=4\"> after repairs.\n\n"
                   "Walkers welcomed the change."}
STEP = 0.08  # seconds between the fake generator's pieces: the draft is seen streaming


class PacedGenerator(FakeGenerator):
    """The fake generator, a little slower, so that the page shows its draft streaming."""

    def complete(self, prompt: str, *, max_tokens: int, stop: Sequence[str]) -> Iterator[str]:
        for piece in super().complete(prompt, max_tokens=max_tokens, stop=stop):
            time.sleep(STEP)
            yield piece


# --- the server and the browser --------------------------------------------------------------


@contextmanager
def serving(index_dir: Path, api_key: str | None = None) -> Iterator[str]:
    """`newsqa serve`'s app over `index_dir/default`, with the models installed now, on a
    free loopback port (uvicorn in a thread); yields its base URL."""
    import uvicorn

    from qa.app.server.api import create_app
    from qa.app.server.service import Service

    service = Service(context(index="default", index_dir=index_dir, generator=True))
    assert service.warm_up() is None
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    port = listening.getsockname()[1]
    app = create_app(service, api_key=api_key)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", ws="none",
                                           timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        service.close()
        listening.close()


def ingested(index_dir: Path, *paths: Path) -> None:
    runner = CliRunner()
    for args in (["--sample"], *([str(p)] for p in paths)):
        result = runner.invoke(cli_app, ["ingest", *args, "--index-dir", str(index_dir)])
        assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("NEWSQA_SCREENSHOTS")
    folder = (ROOT / chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium: apt-get install -y chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("served")


@pytest.fixture(scope="module")
def base(folder: Path) -> Iterator[str]:
    """The server over the sample (and one hostile article), answering with the fakes."""
    hostile = folder / "hostile.jsonl"
    hostile.write_text(json.dumps(HOSTILE) + "\n", encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        for name in ("NEWSQA_MODEL", "NEWSQA_INDEX_DIR", "NEWSQA_API_KEY", "NEWSQA_LLM"):
            patch.delenv(name, raising=False)
        previous = use_models(FakeModels(FakeEmbedder, lambda path: PacedGenerator(SCRIPT)))
        try:
            ingested(folder / "indexes", hostile)
            with serving(folder / "indexes") as url:
                yield url
        finally:
            use_models(previous)


@pytest.fixture
def page(browser: Browser, base: str) -> Iterator[Page]:
    """A fresh page on the server; any script error on it fails the test."""
    ctx = browser.new_context(viewport={"width": 1024, "height": 900}, base_url=base)
    ctx.set_default_timeout(15_000)
    opened = ctx.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    opened.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    yield opened
    ctx.close()
    assert not errors, errors


def ready(page: Page, path: str = "/") -> Page:
    page.goto(path)
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    return page


def ask(page: Page, question: str) -> Any:
    """Type `question` and press Enter; the turn it makes (the last one)."""
    page.fill("#question", question)
    page.press("#question", "Enter")
    return page.locator(".turn").last


def answered(turn: Any, timeout: float = 15_000) -> Any:
    """`turn`, once it is done (answered, refused or failed)."""
    expect(turn).to_have_attribute("aria-busy", "false", timeout=timeout)
    return turn


UNNAMED = """() => [...document.querySelectorAll("button, a, input, select, textarea")]
    .filter((el) => el.offsetParent !== null || el.closest("dialog[open]"))
    .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute("aria-label")
                    && !el.textContent.trim())
    .map((el) => el.outerHTML)"""


def unnamed(page: Page) -> list[str]:
    """The visible controls a screen reader would read without a name."""
    return list(page.evaluate(UNNAMED))


def sample_text(title_start: str) -> str:
    for line in SAMPLE.read_text(encoding="utf-8").splitlines():
        article = json.loads(line)
        if article["title"].startswith(title_start):
            return str(article["text"])
    raise AssertionError(title_start)


# --- without a browser: what the page is served as ------------------------------------------


def test_the_page_and_its_files_are_served_with_a_strict_policy() -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from qa.app.server import page as page_module

    app = FastAPI()
    app.include_router(page_module.router)
    with TestClient(app) as client:
        html = client.get("/")
        assert html.status_code == 200
        policy = html.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "default-src 'none'" in policy
        assert "unsafe-inline" not in policy
        version = page_module.version()
        assert f'src="/static/app.js?v={version}"' in html.text
        for name in ("app.js", "answer.js", "article.js", "dom.js", "stream.js", "page.css"):
            served = client.get(f"/static/{name}")
            assert served.status_code == 200, name
            assert served.headers["content-type"].startswith(("text/javascript", "text/css"))
        for wrong in ("/static/page.py", "/static/..%2fpage.py", "/static/%2e%2e/page.py",
                      "/static/nope.js"):
            assert client.get(wrong).status_code == 404, wrong


def test_the_wheel_carries_the_templates_and_static_files() -> None:
    import fnmatch
    import tomllib

    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]["qa"]
    server = ROOT / "qa" / "app" / "server"
    files = [p for folder in ("templates", "static") for p in (server / folder).iterdir()]
    assert len(files) >= 7
    left_out = [str(p) for p in files if not any(
        fnmatch.fnmatch(str(p.relative_to(ROOT / "qa")), g) for g in globs)]
    assert not left_out, f"pyproject.toml's package-data leaves out {left_out}"


# --- the tests ------------------------------------------------------------------------------


def test_the_page_loads_offline_with_the_archive_in_its_filters(page: Page, base: str) -> None:
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    ready(page)
    expect(page.locator("#index-info")).to_contain_text("25 articles")
    expect(page.locator("#index-info")).to_contain_text("20 Nov 2024 to 19 Dec 2024")
    outlets = page.locator("#source option").all_text_contents()
    assert outlets[0] == "All outlets"
    assert {"Harbor Ledger", "Meridian Post", "Northgate Wire"} <= set(outlets)
    assert page.locator("#since").get_attribute("min") == "2024-11-20"
    assert page.locator("#as_of").get_attribute("max") == "2024-12-19"
    # Every field has a label, and nothing was fetched from anywhere but this server.
    for name in ("question", "source", "since", "until", "as_of"):
        assert page.locator(f"label[for={name}]").count() == 1
    assert requested and all(url.startswith(base) for url in requested), requested
    expect(page.locator("#question")).to_be_focused()


def test_the_draft_streams_then_the_verified_answer_replaces_it(page: Page) -> None:
    ready(page)
    turn = ask(page, BASES)
    draft = turn.locator(".draft-text")
    expect(draft).to_contain_text("Tartus naval")  # pieces of the draft, before verification
    expect(turn.locator(".draft .badge")).to_have_text("Draft, not yet checked")
    answered(turn)
    expect(turn.locator(".draft")).to_have_count(0)
    expect(turn.locator(".answer-text")).to_have_text(
        "Tartus naval base and the Khmeimim air base 1.")
    expect(turn.locator(".verified-badge")).to_be_visible()
    expect(turn.locator(".sources li")).to_have_count(1)
    expect(turn.locator(".sources li .outlet")).to_have_text("Meridian Post")
    expect(turn.locator(".sources li blockquote")).to_contain_text("the naval base at Tartus")


def test_a_marker_opens_its_card_then_the_article_with_the_quote_in_place(
        page: Page, shots: Path) -> None:
    ready(page, "/?" + urlencode({"q": BASES, "source": "Harbor Ledger"}))
    turn = answered(page.locator(".turn"))
    marker = turn.locator("button.marker[data-key='1']")
    expect(marker).to_have_attribute("aria-expanded", "false")
    marker.focus()
    page.keyboard.press("Enter")  # the keyboard opens it as a click does
    card = turn.locator(".card")
    expect(card).to_be_visible()
    expect(marker).to_have_attribute("aria-expanded", "true")
    expect(card.locator(".outlet")).to_have_text("Harbor Ledger")
    expect(card.locator("time")).to_have_attribute("datetime", "2024-12-10")
    expect(card.locator(".card-title")).to_have_text(
        "Opposition fighters take Latakia, where Russia's Syrian bases sit, TASS says")
    quote = card.locator("blockquote").inner_text()
    assert "Tartus" in quote and "Khmeimim" in quote
    original = card.get_by_role("link", name="Original at the quote ↗").get_attribute("href")
    assert original is not None
    assert original.startswith("https://harborledger.example/2024/12/10/latakia")
    # textStart,textEnd: the quote's first and last words (its own commas encoded)
    assert original.split("#:~:text=")[1] == (
        "Moscow%20reportedly%20plans%20to%20keep,and%20the%20Khmeimim%20air%20base.")
    page.screenshot(path=str(shots / "answer-with-card.png"), full_page=True)
    assert not unnamed(page)

    card.get_by_role("button", name="Read it in the article").click()
    dialog = page.locator("#article-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#article-title")).to_have_text(
        "Opposition fighters take Latakia, where Russia's Syrian bases sit, TASS says")
    mark = dialog.locator("mark.quote")
    expect(mark).to_have_count(1)
    assert mark.inner_text() == quote
    expect(mark).to_be_in_viewport()
    expect(mark).to_be_focused()
    # In place: the text around the mark is the article's own, at the quote's offsets.
    text = sample_text("Opposition fighters take Latakia")
    start = text.index(quote)
    offset, paragraph = mark.evaluate("""m => {
        let n = 0;
        for (let x = m.previousSibling; x; x = x.previousSibling) n += x.textContent.length;
        return [n, m.parentNode.textContent];
    }""")
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", start) % (len(text) + 1)  # -1: the last line
    assert paragraph == text[line_start:line_end]
    assert offset == start - line_start
    shown = dialog.locator("#article-body").inner_text()
    assert " ".join(shown.split()) == " ".join(text.split())
    page.screenshot(path=str(shots / "article-with-quote.png"))
    assert not unnamed(page)

    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    page.keyboard.press("Escape")  # a second Escape closes the card, back on its marker
    expect(card).to_be_hidden()
    expect(marker).to_be_focused()


def test_an_article_shows_its_syndicated_copies(page: Page) -> None:
    ready(page)
    turn = answered(ask(page, "Who captured Damascus?"))
    turn.locator("button.marker").first.click()
    expect(turn.locator(".card")).to_contain_text("Also carried by Harbor Ledger")
    turn.locator(".card").get_by_role("button", name="Read it in the article").click()
    copies = page.locator("#article-copies")
    expect(copies).to_be_visible()
    expect(copies.locator("li")).to_have_count(1)
    expect(copies.locator("li")).to_contain_text("Harbor Ledger")
    copies.get_by_role("button", name="Wire report: Damascus captured as Assad's rule ends"
                       ).click()  # the copy, its quote found in its own text
    expect(page.locator("#article-title")).to_have_text(
        "Wire report: Damascus captured as Assad's rule ends")
    expect(page.locator("#article-meta .outlet")).to_have_text("Harbor Ledger")
    expect(page.locator("mark.quote")).to_contain_text("Syrian opposition forces")


def test_a_question_the_sample_cannot_answer_is_refused_with_the_closest_sources(
        page: Page, shots: Path) -> None:
    ready(page)
    turn = answered(ask(page, CHINA))
    expect(turn).to_have_class("turn refused")
    expect(turn.locator(".refusal-badge")).to_have_text("Not answered")
    expect(turn.locator(".answer-text")).to_have_text("The archive does not answer this question.")
    expect(turn.locator("button.marker")).to_have_count(0)
    expect(turn.locator(".sources h3")).to_have_text("Closest sources")
    closest = turn.locator(".sources li")
    assert 1 <= closest.count() <= 3  # as the CLI shows them
    posted = page.request.post("/api/ask", data={"question": CHINA}).json()
    assert not posted["answerable"]
    assert closest.locator("button.headline").all_inner_texts() == [
        c["title"] for c in posted["closest"][:3]]  # the answer's own closest, in its order
    expect(closest.first.locator(".outlet")).not_to_be_empty()
    page.screenshot(path=str(shots / "refusal.png"), full_page=True)
    title = closest.first.locator("button.headline").inner_text()
    closest.first.locator("button.headline").click()
    expect(page.locator("#article-title")).to_have_text(title)
    expect(page.locator("mark.quote")).to_have_count(0)


def test_narrowing_by_outlet_and_date(page: Page, shots: Path) -> None:
    ready(page)
    page.locator("#filters-box summary").click()
    page.select_option("#source", "Harbor Ledger")
    page.fill("#until", "2024-12-11")
    with page.expect_request(lambda r: "/api/ask?" in r.url) as request:
        turn = ask(page, BASES)
    sent = parse_qs(urlsplit(request.value.url).query)
    assert sent["source"] == ["Harbor Ledger"] and sent["until"] == ["2024-12-11"]
    answered(turn)
    expect(turn.locator(".filters-line")).to_have_text(
        "Narrowed: from Harbor Ledger, until 2024-12-11")
    sources = turn.locator(".sources li")
    expect(sources).to_have_count(1)  # not the Meridian Post update an open question cites
    expect(sources.locator(".outlet")).to_have_text("Harbor Ledger")
    expect(sources.locator("time")).to_have_attribute("datetime", "2024-12-10")
    page.screenshot(path=str(shots / "filtered.png"), full_page=True)
    # The permalink holds the question and the filters.
    url = parse_qs(urlsplit(page.url).query)
    assert url == {"q": [BASES], "source": ["Harbor Ledger"], "until": ["2024-12-11"]}


def test_as_of_answers_as_the_news_stood_that_day(page: Page) -> None:
    question = "How many homes has the Alder Bay storm damaged so far?"
    ready(page)
    today = answered(ask(page, question))  # 140 was revised to 212 since: not an answer now
    expect(today).to_have_class("turn refused")
    page.get_by_role("button", name="New conversation").click()
    page.locator("#filters-box summary").click()
    page.get_by_label("As of").fill("2024-11-30")
    then = answered(ask(page, question))
    expect(then.locator(".filters-line")).to_have_text("Narrowed: as of 2024-11-30")
    expect(then.locator(".answer-text")).to_have_text("140 homes 1.")
    expect(then.locator(".sources time")).to_have_attribute("datetime", "2024-11-25")
    expect(then.locator("aside.notes")).to_contain_text("Latest report: Harbor Ledger, 2024-11-25")


def test_news_notes_are_shown_apart_from_the_answer(page: Page) -> None:
    ready(page)
    turn = answered(ask(page, "What is the latest count of homes damaged by the Alder Bay "
                              "storm?"))
    expect(turn.locator(".answer-text")).to_contain_text("212 homes")
    notes = turn.locator("aside.notes li")
    expect(notes).to_have_count(2)
    expect(notes.first).to_contain_text("up from the preliminary figure of 140")
    expect(turn.locator(".answer-text")).not_to_contain_text("140")
    notes.first.locator("button.marker").click()  # notes cite like the answer
    expect(turn.locator(".card .outlet")).to_have_text("Harbor Ledger")


def test_a_follow_up_sends_the_earlier_questions_and_its_permalink_asks_it_again(
        page: Page, base: str, browser: Browser) -> None:
    ready(page)
    answered(ask(page, BASES))
    with page.expect_request(lambda r: "/api/ask?" in r.url) as request:
        turn = ask(page, "and who reported it?")
    assert parse_qs(urlsplit(request.value.url).query)["previous"] == [BASES]
    answered(turn)
    expect(turn.locator(".rewritten")).to_contain_text("Read as:")
    expect(turn.locator(".rewritten")).to_contain_text("bases")
    expect(page.locator("#question-label")).to_have_text("Ask a follow-up, or a new question")
    permalink = turn.locator("a.permalink").get_attribute("href")
    assert permalink is not None and permalink == urlsplit(page.url).path + "?" + urlsplit(
        page.url).query

    other = browser.new_context(base_url=base).new_page()
    with other.expect_request(lambda r: "/api/ask?" in r.url) as again:
        other.goto(permalink)  # loading the link asks its question, with its conversation
    assert parse_qs(urlsplit(again.value.url).query)["previous"] == [BASES]
    expect(other.locator(".turn .question")).to_have_text("and who reported it?")
    expect(other.locator(".turn .follows")).to_have_text(f"After: “{BASES}”")
    answered(other.locator(".turn"))
    expect(other.locator(".turn .rewritten")).to_contain_text("bases")
    other.context.close()

    page.get_by_role("button", name="New conversation").click()
    expect(page.locator(".turn")).to_have_count(0)
    with page.expect_request(lambda r: "/api/ask?" in r.url) as fresh:
        ask(page, BASES)
    assert "previous" not in parse_qs(urlsplit(fresh.value.url).query)


def test_stop_ends_the_answer_and_frees_the_form(page: Page) -> None:
    ready(page)
    turn = ask(page, BASES)
    expect(turn.locator(".draft-text")).to_contain_text("Tartus")
    expect(page.locator("#ask-button")).to_be_disabled()
    page.get_by_role("button", name="Stop").click()
    answered(turn)
    expect(turn.locator(".answer")).to_have_text("Stopped before the answer was checked.")
    expect(page.locator("#stop-button")).to_be_hidden()
    expect(page.locator("#ask-button")).to_be_enabled()
    time.sleep(3 * STEP)  # whatever the server still sends reaches no one
    expect(turn.locator(".answer-text")).to_have_count(0)
    answered(ask(page, "Who captured Damascus?"))  # the next question is answered
    expect(page.locator(".turn").last.locator(".answer-text")).to_contain_text("Syrian")


def test_copy_as_markdown_carries_the_citations(browser: Browser, base: str) -> None:
    ctx = browser.new_context(base_url=base)
    ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    page = ready(ctx.new_page(), "/?" + urlencode({"q": BASES, "source": "Harbor Ledger"}))
    turn = answered(page.locator(".turn"))
    turn.get_by_role("button", name="Copy as Markdown").click()
    expect(turn.get_by_role("button", name="Copied")).to_be_visible()
    copied = page.evaluate("navigator.clipboard.readText()")
    lines = copied.splitlines()
    assert lines[0] == f"**{BASES}**"
    assert "Tartus naval base and the Khmeimim air base [^1]." in lines
    footnote = next(line for line in lines if line.startswith("[^1]: "))
    assert footnote.startswith("[^1]: Harbor Ledger, 2024-12-10, [Opposition fighters take "
                               "Latakia, where Russia's Syrian bases sit, TASS says]"
                               "(https://harborledger.example/")
    assert "naval base at Tartus" in footnote

    refused = answered(ask(page, CHINA))
    refused.get_by_role("button", name="Copy as Markdown").click()
    expect(refused.get_by_role("button", name="Copied")).to_be_visible()
    lines = page.evaluate("navigator.clipboard.readText()").splitlines()
    assert lines[:3] == [f"**{CHINA}**", "", "The archive does not answer this question."]
    assert "Closest sources (none of them supports an answer):" in lines
    assert sum(line.startswith("- ") and "](https://" in line for line in lines) == \
        refused.locator(".sources li").count()
    ctx.close()


def test_errors_are_shown_in_words(page: Page, shots: Path) -> None:
    ready(page, "/?q=Who+won%3F&since=yesterday-ish")  # a permalink with a bad date
    turn = page.locator(".turn")
    alert = turn.get_by_role("alert")
    expect(alert.locator(".problem-message")).to_contain_text("yesterday-ish")
    expect(alert.locator(".problem-hint")).not_to_be_empty()
    page.screenshot(path=str(shots / "error.png"))
    ready(page, "/?q=Who+won%3F&source=Nowhere+Times")
    expect(page.locator(".turn .problem-message")).to_contain_text("matches no outlet")
    expect(page.locator(".turn .problem-hint")).to_contain_text("Harbor Ledger")
    ready(page, "/?q=" + "x" * 2100)  # too long for the server: a 4xx before any stream
    expect(page.locator(".turn .problem-message")).to_contain_text("2,000")
    ask(page, "   ")  # nothing typed: said at the box, nothing sent
    expect(page.locator("#question")).to_have_attribute("aria-invalid", "true")
    expect(page.locator(".turn")).to_have_count(1)
    with page.expect_request(lambda r: "/api/ask?" in r.url) as request:
        ask(page, BASES)  # a failed question is no context for the next
    assert "previous" not in parse_qs(urlsplit(request.value.url).query)
    expect(page.locator("#question")).not_to_have_attribute("aria-invalid", "true")


def test_article_text_is_shown_as_text_never_run(page: Page) -> None:
    ready(page)
    turn = answered(ask(page, "Which street did the Marrow Lane footpath reopen on?"))
    turn.locator("button.marker").first.click()
    expect(turn.locator(".card .card-title")).to_have_text(HOSTILE["title"])
    expect(turn.locator(".card .outlet")).to_have_text(HOSTILE["source"])
    turn.locator(".card").get_by_role("button", name="Read it in the article").click()
    body = page.locator("#article-body")
    expect(body).to_contain_text("<script>window.pwned=3</script>")
    assert page.locator("#article-body img, #article-body script, .card img").count() == 0
    assert page.evaluate("window.pwned") is None


def test_a_server_with_a_key_asks_for_it_once(browser: Browser, base: str,
                                              folder: Path) -> None:
    with serving(folder / "indexes", api_key="k3y-for-the-test") as keyed:
        page = ready(browser.new_context(base_url=keyed).new_page())
        expect(page.locator("#page-error")).to_contain_text("needs its API key")
        key = page.get_by_label("This server needs its API key")
        expect(key).to_be_focused()
        key.fill("wrong")
        key.press("Enter")
        expect(page.locator("#page-error")).to_contain_text("needs its API key")
        key.fill("k3y-for-the-test")
        key.press("Enter")
        expect(page.locator("#index-info")).to_contain_text("25 articles")
        expect(page.locator("#key-form")).to_be_hidden()
        turn = answered(ask(page, BASES))  # streamed through fetch, with the key's header
        expect(turn.locator(".answer-text")).to_contain_text("Khmeimim air base")
        turn.locator("button.marker").first.click()
        turn.locator(".card").get_by_role("button", name="Read it in the article").click()
        expect(page.locator("mark.quote")).to_contain_text("Tartus")
        page.context.close()


def test_narrow_window(page: Page, shots: Path) -> None:
    page.set_viewport_size({"width": 380, "height": 800})
    ready(page)
    turn = answered(ask(page, BASES))
    turn.locator("button.marker").first.click()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 380  # nothing runs off the side
    page.screenshot(path=str(shots / "narrow.png"), full_page=True)


# --- the real models ------------------------------------------------------------------------


@pytest.mark.models
def test_the_seed_question_with_the_real_models(
        browser: Browser, sample_dir: Path, shots: Path, fake_models: None) -> None:
    with pytest.MonkeyPatch.context() as patch:
        for name in ("NEWSQA_MODEL", "NEWSQA_INDEX_DIR", "NEWSQA_API_KEY", "NEWSQA_LLM"):
            patch.delenv(name, raising=False)
        with serving(sample_dir / "indexes") as url:
            ctx = browser.new_context(viewport={"width": 1024, "height": 900}, base_url=url)
            ctx.set_default_timeout(180_000)
            page = ready(ctx.new_page())
            turn = answered(ask(page, BASES), timeout=300_000)
            text = turn.locator(".answer-text").inner_text()
            assert "Tartus" in text or "Khmeimim" in text, text
            turn.locator("button.marker").first.click()
            quote = turn.locator(".card blockquote").inner_text()
            turn.locator(".card").get_by_role("button", name="Read it in the article").click()
            expect(page.locator("mark.quote")).to_have_text(quote)
            page.keyboard.press("Escape")
            page.screenshot(path=str(shots / "real-models-answer.png"), full_page=True)
            ctx.close()
