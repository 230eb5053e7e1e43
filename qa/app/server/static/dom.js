// Small DOM helpers, requests and words. Text is always set with textContent: article fields
// are untrusted.

export const root = document.body.dataset.root || "";

// The API key of a server that needs one (bound beyond loopback): typed once, kept for this tab.
const KEY = "newsqa-api-key";
export function hasKey() { return Boolean(sessionStorage.getItem(KEY)); }
export function setKey(key) {
  if (key) sessionStorage.setItem(KEY, key);
  else sessionStorage.removeItem(KEY);
}
export function authHeaders() {
  const key = sessionStorage.getItem(KEY);
  return key ? { Authorization: `Bearer ${key}` } : {};
}

// h("p", {class: "x"}, "text", child): an element; strings become text nodes, never markup.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

const dayFormat = new Intl.DateTimeFormat("en-GB", {
  year: "numeric", month: "short", day: "numeric", timeZone: "UTC",
});

// A published date (ISO date or datetime) as a <time>, or "undated".
export function dateEl(published) {
  const day = (published || "").slice(0, 10);
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) return h("span", { class: "muted" }, "undated");
  return h("time", { datetime: day }, formatDay(day));
}

export function formatDay(day) {
  const parsed = new Date(day + "T00:00:00Z");
  return Number.isNaN(parsed.getTime()) ? day : dayFormat.format(parsed);
}

// "Outlet · date" for a citation, article or copy.
export function metaLine(item) {
  return h("span", { class: "meta" },
    h("span", { class: "outlet" }, item.source || "outlet unknown"), " · ", dateEl(item.published));
}

// A link to the original article that scrolls to `quote` in browsers with text fragments.
export function quoteUrl(url, quote) {
  if (!url || !/^https?:\/\//i.test(url)) return null;
  const base = url.split("#")[0];
  const words = (quote || "").split(/\s+/).filter(Boolean);
  if (!words.length) return base;
  const part = (ws) => encodeFragment(ws.join(" "));
  const directive = words.length > 12
    ? `${part(words.slice(0, 5))},${part(words.slice(-5))}`
    : part(words);
  return `${base}#:~:text=${directive}`;
}

// Text-fragment encoding: percent-encode, and also the characters the directive gives meaning.
function encodeFragment(text) {
  return encodeURIComponent(text).replace(/[-,&!'()*]/g,
    (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0"));
}

// An external link: new tab, no opener, no referrer.
export function externalLink(href, text, attrs = {}) {
  return h("a", { href, target: "_blank", rel: "noopener noreferrer", ...attrs }, text);
}

// The error JSON of a failed request, in words: {message, hint}.
export async function problemOf(response) {
  let body = null;
  try { body = await response.json(); } catch { /* not JSON */ }
  const message = (body && (body.error || body.message || detailText(body.detail)))
    || `the server answered ${response.status} ${response.statusText}`.trim();
  return { message, hint: (body && body.hint) || null, status: response.status };
}

function detailText(detail) {
  if (!detail) return null;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail.map((d) => [(d.loc || []).slice(1).join("."), d.msg].filter(Boolean).join(": "))
      .join("; ");
  }
  return null;
}

export async function getJson(path) {
  let response;
  try {
    response = await fetch(root + path, { headers: { Accept: "application/json", ...authHeaders() } });
  } catch {
    throw { message: "the server cannot be reached", hint: "is `newsqa serve` still running?" };
  }
  if (!response.ok) throw await problemOf(response);
  return response.json();
}

// A message and its hint, as one block.
export function problemEl(problem) {
  return [
    h("p", { class: "problem-message" }, capitalise(problem.message || "something went wrong")),
    problem.hint ? h("p", { class: "problem-hint" }, "Hint: ", problem.hint) : null,
  ];
}

export function capitalise(text) {
  return text ? text.charAt(0).toUpperCase() + text.slice(1) : text;
}

export function announce(text) {
  const el = document.getElementById("announcer");
  el.textContent = "";
  window.setTimeout(() => { el.textContent = text; }, 50);
}
