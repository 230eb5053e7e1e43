// The page: the question form and its filters, the conversation, the answer stream
// (server-sent events from GET /api/ask), and permalinks (the URL holds the question, the
// filters and the earlier questions; loading such a URL asks it).
import { Turn } from "./answer.js";
import { announce, formatDay, getJson, problemEl, root, setKey } from "./dom.js";
import { openStream } from "./stream.js";

const FILTERS = ["source", "since", "until", "as_of"];
const MAX_PREVIOUS = 20;
const form = document.getElementById("ask-form");
const question = document.getElementById("question");
const askButton = document.getElementById("ask-button");
const stopButton = document.getElementById("stop-button");
const thread = document.getElementById("thread");
const field = (name) => document.getElementById(name);

const conversation = { previous: [] }; // earlier answered questions, as typed, oldest first
let running = null; // {source: EventSource, turn: Turn}

// --- the archive and its filters -----------------------------------------------------------

async function loadIndex() {
  const info = await getJson("/api/index");
  const select = field("source");
  for (const name of info.sources || []) {
    select.append(new Option(name, name));
  }
  const first = (info.first_published || "").slice(0, 10);
  const last = (info.last_published || "").slice(0, 10);
  for (const name of ["since", "until", "as_of"]) {
    if (first) field(name).min = first;
    if (last) field(name).max = last;
  }
  const parts = [`Archive “${info.name || "default"}”`];
  if (Number.isFinite(info.articles)) parts.push(`${info.articles.toLocaleString("en")} articles`);
  if ((info.sources || []).length) parts.push(`${info.sources.length} outlets`);
  if (first && last) parts.push(`${formatDay(first)} to ${formatDay(last)}`);
  field("index-info").textContent = parts.join(" · ");
}

function filters() {
  const out = {};
  for (const name of FILTERS) {
    const value = field(name).value.trim();
    if (value) out[name] = value;
  }
  return out;
}

function setFilters(values) {
  for (const name of FILTERS) {
    const el = field(name);
    const value = values[name] || "";
    if (el.tagName === "SELECT" && value && ![...el.options].some((o) => o.value === value)) {
      el.append(new Option(value, value)); // a permalink's outlet, before or without the index
    }
    el.value = value;
  }
  summariseFilters();
}

function summariseFilters() {
  const active = filters();
  const n = Object.keys(active).length;
  field("filters-summary").textContent = n ? `(${n} set)` : "";
  if (n) field("filters-box").open = true;
}

// --- asking -----------------------------------------------------------------------------------

function params(q, chosen, previous) {
  const out = new URLSearchParams({ q });
  for (const [name, value] of Object.entries(chosen)) out.set(name, value);
  for (const p of previous) out.append("previous", p);
  return out;
}

// Ask `q` with the filters chosen (or `chosen`: a permalink's, as written there).
function ask(q, { record = true, chosen = null } = {}) {
  q = q.trim();
  if (!q) {
    question.setAttribute("aria-invalid", "true");
    announce("Type a question first.");
    question.focus();
    return;
  }
  question.removeAttribute("aria-invalid");
  stop(true);
  chosen = chosen || filters();
  const previous = conversation.previous.slice(-MAX_PREVIOUS);
  const query = params(q, chosen, previous);
  const permalink = `${root}/?${query}`;
  if (record) history.pushState({}, "", permalink);
  const shown = thread.childElementCount ? [] : previous; // a link's conversation so far
  const turn = new Turn(q, chosen, permalink, shown);
  thread.append(turn.el);
  field("conversation-actions").hidden = false;
  field("question-label").textContent = "Ask a follow-up, or a new question";
  question.value = "";
  turn.el.scrollIntoView({ block: "start", behavior: "smooth" });
  stream(query, turn);
}

function stream(query, turn) {
  let source = null;
  const finish = () => {
    source.close();
    if (running && running.source === source) running = null;
    setRunning(false);
  };
  const handlers = {
    status: (d) => turn.status(d),
    draft: (d) => turn.draft(d.text || ""),
    answer: (d) => turn.showAnswer(d),
    citation: (d) => turn.citation(d),
    note: (d) => turn.note(d.text || ""),
    done: () => {
      finish();
      conversation.previous.push(turn.question); // only answered questions carry a follow-up
      turn.done();
    },
    error: (d) => { finish(); turn.error(d); },
  };
  source = openStream(`${root}/api/ask?${query}`, {
    event(name, raw) {
      let data;
      try { data = JSON.parse(raw || "{}"); } catch { return; }
      if (name === "message") name = data.event || data.type; // unnamed events, if any
      if (handlers[name]) handlers[name](data);
    },
    broken(problem) { finish(); turn.error(problem); },
  });
  running = { source, turn };
  setRunning(true);
}

function stop(quietly = false) {
  if (!running) return;
  const { source, turn } = running;
  source.close(); // the server sees the client go and stops generating
  running = null;
  setRunning(false);
  if (!quietly) turn.error(null, true);
}

function setRunning(on) {
  askButton.disabled = on;
  stopButton.hidden = !on;
  if (!on && document.activeElement === stopButton) question.focus();
}

// --- the form ---------------------------------------------------------------------------------

form.addEventListener("submit", (event) => {
  event.preventDefault();
  ask(question.value);
});
question.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    if (!askButton.disabled) ask(question.value);
  }
});
stopButton.addEventListener("click", () => stop());
for (const name of FILTERS) field(name).addEventListener("change", summariseFilters);
field("clear-filters").addEventListener("click", () => { setFilters({}); field("source").focus(); });
field("new-conversation").addEventListener("click", () => {
  stop(true);
  conversation.previous = [];
  thread.replaceChildren();
  field("conversation-actions").hidden = true;
  field("question-label").textContent = "Ask the archive a question";
  history.pushState({}, "", `${root}/`);
  question.focus();
});

// --- start ------------------------------------------------------------------------------------

function fromUrl() {
  const url = new URLSearchParams(window.location.search);
  const values = {};
  for (const name of FILTERS) values[name] = url.get(name) || "";
  return { q: (url.get("q") || "").trim(), values, previous: url.getAll("previous") };
}

// The archive, or why it cannot be read; true when it was read.
async function reachIndex() {
  const box = field("page-error");
  try {
    await loadIndex();
    box.hidden = true;
    field("key-form").hidden = true;
    return true;
  } catch (problem) {
    field("index-info").textContent = "The archive could not be read.";
    box.replaceChildren(...problemEl(problem));
    box.hidden = false;
    if (problem.status === 401) {
      setKey(null);
      field("key-form").hidden = false;
      field("api-key").focus();
    }
    return false;
  }
}

field("key-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  setKey(field("api-key").value.trim());
  field("api-key").value = "";
  if (await reachIndex()) start(false);
});

async function start(reach = true) {
  const linked = fromUrl();
  if (reach && !(await reachIndex()) && !field("key-form").hidden) {
    document.body.dataset.ready = "true"; // waiting for the key
    return;
  }
  setFilters(linked.values);
  if (linked.q) {
    conversation.previous = linked.previous.filter((p) => p.trim()).slice(-MAX_PREVIOUS);
    // A value the form cannot hold (a bad date) is still sent, for the server to explain.
    const chosen = Object.fromEntries(Object.entries(linked.values).filter(([, v]) => v));
    ask(linked.q, { record: false, chosen });
  } else {
    question.focus();
  }
  document.body.dataset.ready = "true";
}

window.addEventListener("popstate", () => { window.location.reload(); });
start();
