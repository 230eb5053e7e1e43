// An answer's server-sent events. EventSource reads them; but it cannot send a header, so a
// server that needs its API key is read with fetch and a small event-stream parser instead.
import { authHeaders, hasKey, problemOf } from "./dom.js";

const UNREACHABLE = { message: "the server cannot be reached", hint: "is `newsqa serve` still running?" };
const CUT = { message: "the connection closed before the answer was complete", hint: "ask again" };

// Open `url`; `event(name, data)` hears each event, `broken(problem)` a stream that failed
// (not one closed by `close()`). Returns {close}.
export function openStream(url, { event, broken }) {
  return hasKey() ? fetched(url, event, broken) : eventSource(url, event, broken);
}

function eventSource(url, event, broken) {
  const source = new EventSource(url);
  let heard = false;
  let closed = false;
  const hear = (name) => (e) => { heard = true; event(name, e.data); };
  for (const name of ["status", "draft", "answer", "citation", "note", "done", "message"]) {
    source.addEventListener(name, hear(name));
  }
  source.addEventListener("error", (e) => {
    if (e.data) { hear("error")(e); return; } // the server's own error event
    if (closed) return;
    closed = true;
    source.close(); // no reconnecting: a question is asked once
    if (heard) broken(CUT);
    else explain(url).then(broken);
  });
  return { close() { closed = true; source.close(); } };
}

// Why a stream did not open: EventSource cannot read an error response, so it is fetched.
async function explain(url) {
  const abort = new AbortController();
  try {
    const response = await fetch(url, { signal: abort.signal });
    if (!response.ok) return await problemOf(response);
    abort.abort();
    return CUT;
  } catch {
    return UNREACHABLE;
  }
}

function fetched(url, event, broken) {
  const abort = new AbortController();
  let closed = false;
  (async () => {
    let response;
    try {
      response = await fetch(url, { headers: { Accept: "text/event-stream", ...authHeaders() },
        signal: abort.signal });
    } catch {
      if (!closed) broken(UNREACHABLE);
      return;
    }
    if (!response.ok) {
      if (!closed) broken(await problemOf(response));
      return;
    }
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value.replace(/\r\n?/g, "\n");
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          let name = "message";
          const data = [];
          for (const line of block.split("\n")) {
            if (!line || line.startsWith(":")) continue;
            const colon = line.indexOf(":");
            const field = colon < 0 ? line : line.slice(0, colon);
            const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
            if (field === "event") name = text;
            else if (field === "data") data.push(text);
          }
          if (data.length && !closed) event(name, data.join("\n"));
        }
      }
    } catch { /* aborted, or the connection was cut */ }
    if (!closed) broken(CUT);
  })();
  return { close() { closed = true; abort.abort(); } };
}
