// The article dialog: a stored article's text with the cited quote highlighted in place (by
// its character offsets), a link to the original at the quote, and the syndicated copies.
import { append, dateEl, externalLink, getJson, h, problemEl, quoteUrl } from "./dom.js";

const dialog = document.getElementById("article-dialog");
const body = document.getElementById("article-body");
const status = document.getElementById("article-status");
let opening = 0; // the latest request wins when several are made in a row

document.getElementById("article-close").addEventListener("click", () => dialog.close());
dialog.addEventListener("click", (event) => { // a click on the backdrop closes it
  if (event.target === dialog) dialog.close();
});

// Open article `id`; with `quote` (and its offsets, when known) the quote is highlighted.
export async function openArticle(id, quote = null, start = null, end = null) {
  const ticket = ++opening;
  clear();
  status.textContent = "Opening the article…";
  if (!dialog.open) dialog.showModal();
  const query = quote ? `?quote=${encodeURIComponent(quote)}` : "";
  let article;
  try {
    article = await getJson(`/api/articles/${encodeURIComponent(id)}${query}`);
  } catch (problem) {
    if (ticket !== opening) return;
    status.textContent = "";
    append(body, h("div", { class: "problem", role: "alert" }, problemEl(problem)));
    return;
  }
  if (ticket !== opening) return;
  show(article, quote, start, end);
}

function clear() {
  for (const id of ["article-meta", "article-title", "article-byline", "article-links"]) {
    document.getElementById(id).replaceChildren();
  }
  body.replaceChildren();
  document.getElementById("article-copies").hidden = true;
  document.getElementById("article-copies-list").replaceChildren();
}

function show(article, quote, start, end) {
  document.getElementById("article-meta").replaceChildren(
    h("span", { class: "outlet" }, article.source || "outlet unknown"), " · ",
    dateEl(article.published));
  document.getElementById("article-title").textContent = article.title || "(untitled)";
  if (article.authors && article.authors.length) {
    document.getElementById("article-byline").textContent = "By " + article.authors.join(", ");
  }
  const span = quoteSpan(article, quote, start, end);
  const links = document.getElementById("article-links");
  const original = quoteUrl(article.url, span ? quote : null);
  if (original) {
    links.append(externalLink(original,
      span ? "Open the original at the quote ↗" : "Open the original ↗",
      { class: "original" }));
  }
  body.append(...paragraphs(article.text || "", span));
  showCopies(article, quote);
  const mark = body.querySelector("mark");
  if (quote && !span) {
    status.textContent = "The quote is not in this version of the article.";
  } else {
    status.textContent = span ? "The quoted passage is highlighted." : "";
  }
  if (mark) {
    mark.scrollIntoView({ block: "center" });
    mark.focus({ preventScroll: true });
  } else {
    body.focus();
  }
}

// Where the quote is: the offsets given, if the text there is the quote; else where the
// server found it; else a search of the text; null if it is not there.
function quoteSpan(article, quote, start, end) {
  if (!quote) return null;
  const text = article.text || "";
  const same = (s, e) => Number.isInteger(s) && Number.isInteger(e) && s >= 0 && e <= text.length
    && s < e && squash(text.slice(s, e)) === squash(quote);
  if (same(start, end)) return [start, end];
  if (same(article.start, article.end)) return [article.start, article.end];
  const found = text.indexOf(quote);
  return found >= 0 ? [found, found + quote.length] : null;
}

function squash(text) {
  return text.split(/\s+/).filter(Boolean).join(" ");
}

// The text as paragraphs (split at line breaks, offsets kept), the span marked in place.
function paragraphs(text, span) {
  const out = [];
  let offset = 0;
  for (const line of text.split("\n")) {
    const from = offset;
    const to = offset + line.length;
    offset = to + 1;
    if (!line.trim()) continue;
    const p = h("p");
    if (span && span[0] < to && span[1] > from) {
      const a = Math.max(span[0], from) - from;
      const b = Math.min(span[1], to) - from;
      const first = !out.some((el) => el.querySelector("mark"));
      append(p, [line.slice(0, a),
        h("mark", { class: "quote", tabindex: first ? "-1" : null }, line.slice(a, b)),
        line.slice(b)]);
    } else {
      p.textContent = line;
    }
    out.push(p);
  }
  if (!out.length) out.push(h("p", { class: "muted" }, "This article has no text."));
  return out;
}

function showCopies(article, quote) {
  const copies = article.copies || [];
  if (!copies.length) return;
  const list = document.getElementById("article-copies-list");
  for (const copy of copies) {
    const link = quoteUrl(copy.url, quote);
    list.append(h("li", {},
      h("span", { class: "outlet" }, copy.source || "outlet unknown"), " · ",
      dateEl(copy.published), " · ",
      h("button", {
        type: "button", class: "link",
        onclick: () => openArticle(copy.article_id, quote),
      }, copy.title || "(untitled)"),
      link ? [" ", externalLink(link, "original ↗", {
        "aria-label": `the original of ${copy.source || "this copy"}`,
      })] : null));
  }
  document.getElementById("article-copies").hidden = false;
}
