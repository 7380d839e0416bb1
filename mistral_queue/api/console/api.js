// The API as the console calls it: the key lives in sessionStorage (this tab only) and goes in
// the Authorization header; it is never put in a URL or a cookie.
const KEY = "mq.console.key";
const TENANT = "mq.console.tenant";  // the tenant an admin key acts as (X-MQ-Tenant)

function stored(name, value) {
  if (value) sessionStorage.setItem(name, value); else sessionStorage.removeItem(name);
}

export const session = {
  get key() { return sessionStorage.getItem(KEY); },
  set key(value) { stored(KEY, value); },
  get tenant() { return sessionStorage.getItem(TENANT); },
  set tenant(value) { stored(TENANT, value); },
};

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.type = error.type || "http_error";
    this.body = body;
  }
}

function headers(extra = {}) {
  const acting = session.tenant ? { "X-MQ-Tenant": session.tenant } : {};
  return { Authorization: `Bearer ${session.key}`, ...acting, ...extra };
}

// One JSON call; resolves to the parsed body, rejects with ApiError on a non-2xx answer.
export async function call(method, path, body) {
  const init = { method, headers: headers(), cache: "no-store", credentials: "omit" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const text = await response.text();
  let parsed = null;
  try { parsed = text ? JSON.parse(text) : null; } catch { parsed = { raw: text }; }
  if (!response.ok) throw new ApiError(response.status, parsed);
  return parsed;
}

// The public metrics page (Prometheus text), for queue depth and throughput.
export async function metricsText() {
  const response = await fetch("/metrics", { cache: "no-store", credentials: "omit" });
  return response.ok ? response.text() : "";
}

function parseFrame(frame) {
  const event = { id: null, type: "message", data: "" };
  for (const line of frame.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const cut = line.indexOf(":");
    const field = cut < 0 ? line : line.slice(0, cut);
    const value = cut < 0 ? "" : line.slice(cut + 1).replace(/^ /, "");
    if (field === "id") event.id = value;
    else if (field === "event") event.type = value;
    else if (field === "data") event.data += (event.data ? "\n" : "") + value;
  }
  return event;
}

// Server-Sent Events over fetch (EventSource cannot send an Authorization header). Reconnects
// with Last-Event-ID after a drop until `signal` aborts; `onEvent` gets {id, type, data}.
export async function follow(path, { after = null, onEvent, signal, onState = () => {} }) {
  let last = after;
  while (!signal.aborted) {
    try {
      const extra = last ? { "Last-Event-ID": last } : {};
      const response = await fetch(path, { headers: headers(extra), signal, cache: "no-store" });
      if (!response.ok) throw new ApiError(response.status, null);
      onState("live");
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value.replace(/\r\n?/g, "\n");
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const frame = parseFrame(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
          if (frame.id) last = frame.id;
          if (frame.data) onEvent({ id: frame.id, type: frame.type, data: JSON.parse(frame.data) });
        }
      }
      return;  // the server ended the stream: the job reached its end
    } catch (error) {
      if (signal.aborted) return;
      if (error instanceof ApiError && error.status === 401) { onState("refused"); return; }
      onState("reconnecting");
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}
