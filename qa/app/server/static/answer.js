// One turn of the conversation: the question, the streamed draft, then the verified answer
// with its [n] markers, citation cards, sources, news notes, or a refusal with the closest
// sources; and the turn as Markdown.
import { openArticle } from "./article.js";
import {
  announce, append, capitalise, dateEl, externalLink, getJson, h, metaLine, problemEl, quoteUrl,
} from "./dom.js";

const STAGES = {
  retrieving: "Searching the archive…",
  generating: "Writing a draft…",
  verifying: "Checking the draft against the articles…",
};
const MARKER = /\[(\d+(?:\s*,\s*\d+)*)\]/g;
let turns = 0;

export class Turn {
  constructor(question, filters, permalink, follows = []) {
    this.n = ++turns;
    this.question = question;
    this.filters = filters;
    this.citations = new Map();
    this.notes = [];
    this.answer = null;
    this.closest = null; // a refusal's closest articles
    this.openKey = null;
    const id = (part) => `t${this.n}-${part}`;
    this.ids = id;
    this.statusEl = h("p", { class: "status", role: "status" }, "Waiting for the archive…");
    this.rewrittenEl = h("p", { class: "rewritten muted small", hidden: true });
    this.draftEl = h("div", { class: "draft", hidden: true },
      h("p", { class: "badge" }, "Draft, not yet checked"), h("p", { class: "draft-text" }));
    this.answerEl = h("div", { class: "answer", id: id("answer"), hidden: true });
    this.cardEl = h("div", { class: "card", id: id("card"), hidden: true, role: "region",
      "aria-label": "Source" });
    this.notesEl = h("aside", { class: "notes", hidden: true, "aria-labelledby": id("notes") },
      h("h3", { id: id("notes") }, "News notes"), h("ul"));
    this.sourcesEl = h("section", { class: "sources", hidden: true,
      "aria-labelledby": id("sources") }, h("h3", { id: id("sources") }, "Sources"), h("ol"));
    this.copyButton = h("button", { type: "button", class: "quiet", hidden: true,
      onclick: () => this.copyMarkdown() }, "Copy as Markdown");
    this.actionsEl = h("div", { class: "turn-actions", hidden: true },
      this.copyButton,
      h("a", { href: permalink, class: "permalink" }, "Link to this question"),
      h("span", { class: "muted small timing" }));
    this.el = h("article", { class: "turn", "aria-labelledby": id("q"), "aria-busy": "true" },
      h("h2", { class: "question", id: id("q") }, question),
      filtersLine(filters), followsLine(follows), this.rewrittenEl, this.statusEl, this.draftEl,
      this.answerEl, this.notesEl, this.sourcesEl, this.actionsEl);
    this.el.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && this.openKey !== null) {
        const key = this.openKey;
        this.closeCard();
        this.el.querySelector(`button.marker[data-key="${key}"]`)?.focus();
      }
    });
  }

  status(data) {
    this.statusEl.textContent = STAGES[data.stage] || capitalise(String(data.stage || ""));
    if (data.question && squash(data.question) !== squash(this.question)) {
      this.rewrittenEl.textContent = `Read as: “${data.question}”`;
      this.rewrittenEl.hidden = false;
    }
  }

  draft(piece) {
    this.draftEl.hidden = false;
    this.draftEl.querySelector(".draft-text").append(document.createTextNode(piece));
  }

  // The verified answer replaces the draft.
  showAnswer(answer) {
    this.answer = answer;
    this.draftEl.remove();
    this.statusEl.hidden = true;
    const refused = answer.answerable === false;
    this.el.classList.toggle("refused", refused);
    const text = h("p", { class: "answer-text" });
    this.renderMarked(text, answer.answer || "");
    if (refused) {
      this.answerEl.append(h("p", { class: "badge refusal-badge" }, "Not answered"), text,
        h("p", { class: "muted small" },
          "No article found for this question supports an answer, so none is given."));
    } else {
      this.answerEl.append(h("p", { class: "badge verified-badge" }, "Checked against the sources"),
        text);
    }
    this.answerEl.append(this.cardEl);
    this.answerEl.hidden = false;
    for (const note of answer.notes || []) this.note(note);
    announce(refused ? "The archive does not answer this question." : "Answer ready.");
  }

  // `[n]` markers in `text` as buttons that open citation n's card.
  renderMarked(el, text) {
    let last = 0;
    for (const match of text.matchAll(MARKER)) {
      el.append(text.slice(last, match.index));
      for (const key of match[1].split(",").map((k) => Number(k.trim()))) {
        el.append(h("button", {
          type: "button", class: "marker", "data-key": key, "aria-expanded": "false",
          "aria-controls": this.cardEl.id, "aria-label": `source ${key}`,
          onclick: () => this.toggleCard(key),
        }, `${key}`));
      }
      last = match.index + match[0].length;
    }
    el.append(text.slice(last));
  }

  citation(citation) {
    this.citations.set(Number(citation.key), citation);
    for (const marker of this.el.querySelectorAll(`button.marker[data-key="${citation.key}"]`)) {
      marker.setAttribute("aria-label",
        `source ${citation.key}: ${citation.source || "outlet unknown"}, ${citation.title || ""}`);
    }
    const list = this.sourcesEl.querySelector("ol");
    list.append(h("li", { value: citation.key, id: this.ids(`source-${citation.key}`) },
      metaLine(citation), " ",
      h("button", { type: "button", class: "link headline",
        onclick: () => openArticle(citation.article_id, citation.quote, citation.start,
          citation.end) }, citation.title || "(untitled)"),
      h("blockquote", {}, citation.quote)));
    this.sourcesEl.querySelector("h3").textContent =
      this.answer && this.answer.answerable === false ? "Closest sources" : "Sources";
    this.sourcesEl.hidden = false;
  }

  note(text) {
    if (this.notes.includes(text)) return;
    this.notes.push(text);
    const item = h("li");
    this.renderMarked(item, text);
    this.notesEl.querySelector("ul").append(item);
    this.notesEl.hidden = false;
  }

  async done() {
    const answer = this.answer || {};
    if (answer.answerable === false && !this.citations.size) await this.showClosest(answer);
    const total = answer.timings && answer.timings.total_s;
    const timing = this.el.querySelector(".timing");
    timing.textContent = [answer.model, Number.isFinite(total) ? `${total.toFixed(2)} s` : null]
      .filter(Boolean).join(" · ");
    this.copyButton.hidden = !this.answer;
    this.actionsEl.hidden = false;
    this.el.setAttribute("aria-busy", "false");
  }

  // A refusal's closest sources: the answer's own list if it has one, else the articles it
  // retrieved (read for their outlet, date and headline).
  async showClosest(answer) {
    const section = this.sourcesEl;
    section.querySelector("h3").textContent = "Closest sources";
    const list = section.querySelector("ol");
    let items = Array.isArray(answer.closest) ? answer.closest : null;
    if (!items) {
      const ids = [...new Set((answer.retrieved || []).map((r) => r.article_id))].slice(0, 3);
      items = (await Promise.all(ids.map((id) => getJson(`/api/articles/${encodeURIComponent(id)}`)
        .then((a) => ({ ...a, article_id: a.id }), () => null)))).filter(Boolean);
    }
    this.closest = items.slice(0, 3);
    for (const item of this.closest) { // as many as the CLI shows
      const original = quoteUrl(item.url, null);
      list.append(h("li", {}, metaLine(item), " ",
        h("button", { type: "button", class: "link headline",
          onclick: () => openArticle(item.article_id || item.id) }, item.title || "(untitled)"),
        original ? [" ", externalLink(original, "original ↗", {
          "aria-label": `the original of ${item.title || "this article"}`,
        })] : null));
    }
    if (!items.length) {
      section.append(h("p", { class: "muted" },
        "No article in the archive matches the question and filters."));
    } else {
      section.append(h("p", { class: "muted small" }, "None of them supports an answer."));
    }
    section.hidden = false;
  }

  error(problem, stopped = false) {
    this.draftEl.remove();
    this.statusEl.hidden = true;
    this.el.classList.add(stopped ? "stopped" : "failed");
    this.answerEl.replaceChildren(stopped
      ? h("p", { class: "muted" }, "Stopped before the answer was checked.")
      : h("div", { class: "problem", role: "alert" }, problemEl(problem)));
    this.answerEl.hidden = false;
    this.el.setAttribute("aria-busy", "false");
  }

  toggleCard(key) {
    if (this.openKey === key) this.closeCard();
    else this.openCard(key);
  }

  openCard(key) {
    const citation = this.citations.get(key);
    const card = this.cardEl;
    card.replaceChildren();
    if (!citation) {
      card.append(h("p", { class: "muted" }, `Source ${key} is not among the citations.`));
    } else {
      const original = quoteUrl(citation.url, citation.quote);
      const carried = citation.also_carried_by || [];
      append(card, [
        h("p", { class: "card-meta" }, h("span", { class: "card-key" }, `[${key}]`), " ",
          metaLine(citation)),
        h("h3", { class: "card-title" }, citation.title || "(untitled)"),
        h("blockquote", {}, citation.quote),
        carried.length ? h("p", { class: "muted small" }, "Also carried by ",
          carried.map((c, i) => [i ? "; " : "", c.source || "outlet unknown", " (",
            dateEl(c.published), ")"])) : null,
        h("p", { class: "card-actions" },
          h("button", { type: "button", class: "primary small-button",
            onclick: () => openArticle(citation.article_id, citation.quote, citation.start,
              citation.end) }, "Read it in the article"),
          original ? externalLink(original, "Original at the quote ↗") : null,
          h("button", { type: "button", class: "quiet small-button",
            onclick: () => this.closeCard() },
            "Close")),
      ]);
      card.setAttribute("aria-label", `Source ${key}`);
    }
    card.hidden = false;
    this.openKey = key;
    for (const marker of this.el.querySelectorAll("button.marker")) {
      marker.setAttribute("aria-expanded", String(Number(marker.dataset.key) === key));
    }
  }

  closeCard() {
    this.cardEl.hidden = true;
    this.openKey = null;
    for (const marker of this.el.querySelectorAll("button.marker")) {
      marker.setAttribute("aria-expanded", "false");
    }
  }

  // The question, the answer with footnote markers, its notes and its citations as Markdown.
  markdown() {
    const answer = this.answer || {};
    const feet = (text) => text.replace(MARKER, (_, keys) =>
      keys.split(",").map((k) => `[^${k.trim()}]`).join(""));
    const lines = [`**${mdText(this.question)}**`, ""];
    lines.push(feet(answer.answer || ""), "");
    for (const note of this.notes) lines.push(`> ${feet(note)}`, "");
    const cited = [...this.citations.values()].sort((a, b) => a.key - b.key);
    for (const c of cited) {
      const title = mdLink(c.title, c.url);
      const date = (c.published || "").slice(0, 10) || "undated";
      lines.push(`[^${c.key}]: ${mdText(c.source || "outlet unknown")}, ${date}, ${title}: `
        + `“${c.quote.split(/\s+/).join(" ")}”`);
    }
    if (!cited.length && this.closest && this.closest.length) {
      lines.push("Closest sources (none of them supports an answer):", "");
      for (const c of this.closest) {
        const title = mdLink(c.title, c.url);
        lines.push(`- ${mdText(c.source || "outlet unknown")}, `
          + `${(c.published || "").slice(0, 10) || "undated"}, ${title}`);
      }
    }
    return lines.join("\n").trim() + "\n";
  }

  async copyMarkdown() {
    const text = this.markdown();
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      const area = h("textarea", { class: "visually-hidden" });
      area.value = text;
      document.body.append(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    this.copyButton.textContent = "Copied";
    announce("The answer is copied as Markdown.");
    window.setTimeout(() => { this.copyButton.textContent = "Copy as Markdown"; }, 2000);
  }
}

function squash(text) {
  return String(text).split(/\s+/).filter(Boolean).join(" ").toLowerCase();
}

// A Markdown link to an http(s) URL (brackets in it encoded), else the title alone.
function mdLink(title, url) {
  if (!url || !/^https?:\/\//i.test(url)) return mdText(title || "");
  const safe = url.replace(/[()<>\s]/g,
    (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0"));
  return `[${mdText(title || url)}](${safe})`;
}

function mdText(text) {
  return String(text).replace(/([\\`*_[\]<>])/g, "\\$1");
}

// A linked follow-up's earlier questions (not shown as turns of their own).
function followsLine(follows) {
  return follows.length ? h("p", { class: "follows muted small" }, "After: ",
    follows.map((q, i) => [i ? "; " : "", `“${q}”`])) : null;
}

function filtersLine(filters) {
  const parts = [];
  if (filters.source) parts.push(`from ${filters.source}`);
  if (filters.since) parts.push(`since ${filters.since}`);
  if (filters.until) parts.push(`until ${filters.until}`);
  if (filters.as_of) parts.push(`as of ${filters.as_of}`);
  return parts.length ? h("p", { class: "filters-line muted small" }, "Narrowed: ",
    parts.join(", ")) : null;
}
