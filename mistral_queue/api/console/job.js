// One job: facts, the buttons operators reach for, request/result, deltas, timeline, callbacks.
import { ApiError, call, follow } from "./api.js";
import { clear, collapsible, el, errorBox, json, seconds, statusBadge, usd, when } from "./dom.js";

const ACTIONS = [
  ["cancel", "Cancel", (id) => `/v1/jobs/${id}/cancel`],
  ["retry", "Retry", (id) => `/v1/jobs/${id}/retry`],
  ["redeliver", "Redeliver callback", (id) => `/v1/jobs/${id}/callback/redeliver`],
];

const SUMMARY_CHARS = 240;

function facts(job) {
  const rows = [
    ["id", job.id], ["type", job.type], ["status", statusBadge(job.status)],
    ["attempts", job.attempts], ["created", when(job.created_at)],
    ["started", when(job.started_at)], ["finished", when(job.finished_at)],
    ["duration", seconds(job.started_at, job.finished_at)], ["cost", usd(job.cost)],
    ["callback", job.callback && job.callback.url ? `${job.callback.url} — ${job.callback.status
      || "none"}, ${job.callback.attempts} attempt(s)` : "none"],
  ];
  if (job.progress) rows.push(["progress", JSON.stringify(job.progress)]);
  if (job.error) rows.push(["error", `${job.error.type || ""}: ${job.error.message || ""}`]);
  return el("dl", { class: "facts", id: "job-facts" },
    rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", { "data-fact": k }, v)]));
}

function offset(createdAt, time) {
  const ms = new Date(time) - new Date(createdAt);
  return Number.isFinite(ms) ? `+${(ms / 1000).toFixed(3)}s` : "";
}

function summary(event) {
  const data = event.data || {};
  if (event.type === "job.delta") return data.text || data.delta || "";
  const text = Object.keys(data).length ? JSON.stringify(data) : "";
  // The whole result is shown above; a timeline line only needs enough to tell events apart.
  return text.length > SUMMARY_CHARS ? `${text.slice(0, SUMMARY_CHARS)}…` : text;
}

function attemptRow(event) {
  const d = event.data || {};
  return el("tr", {}, el("td", {}, d.attempt ?? ""), el("td", {}, statusBadge(
    event.type.replace("callback.", ""))), el("td", {}, d.status_code ?? "—"),
  el("td", {}, d.error || ""), el("td", {}, d.duration_ms !== undefined ? `${d.duration_ms} ms` : ""),
  el("td", {}, when(event.time)));
}

export async function jobView(root, [jobId], signal) {
  const path = `/v1/jobs/${encodeURIComponent(jobId)}`;
  let job = await call("GET", path);
  const head = el("div", { id: "job-head" }, facts(job));
  const answer = el("div", { class: "answer", id: "action-answer", "aria-live": "polite" });
  const deltas = el("pre", { class: "deltas", id: "deltas" });
  const timeline = el("ol", { class: "timeline", id: "timeline" });
  const attempts = el("tbody", { id: "callback-attempts" });
  const bodies = el("div", { id: "job-bodies" });
  const live = new AbortController();
  signal.addEventListener("abort", () => live.abort());
  let lastEvent = null;

  function showBodies() {
    bodies.replaceChildren(collapsible("Request", job.request),
      collapsible("Result", job.result, job.status === "succeeded"),
      job.pending_tool_calls ? collapsible("Pending tool calls", job.pending_tool_calls, true) : "");
  }
  async function reload() {
    job = await call("GET", path);
    head.replaceChildren(facts(job));
    showBodies();
  }
  function onEvent(event) {
    const e = event.data;
    lastEvent = event.id;
    if (e.type === "job.delta") { deltas.append(summary(e)); return; }
    timeline.append(el("li", { "data-type": e.type },
      el("span", { class: "t" }, offset(job.created_at, e.time)),
      el("span", {}, e.type), el("span", { class: "d" }, summary(e))));
    if (e.type.startsWith("callback.") && e.type !== "callback.redelivery_requested") {
      attempts.append(attemptRow(e));
    }
    reload().catch(() => {});
  }
  function stream() {
    follow(`${path}/events`, { after: lastEvent, signal: live.signal, onEvent });
  }
  async function act(name, url) {
    clear(answer);
    try {
      const body = await call("POST", url);
      answer.append(el("p", { "data-answer": name }, `${name}: accepted`), json(body));
      await reload();
      if (name === "retry") stream();  // the log grows again: follow it from where it ended
    } catch (error) {
      answer.append(errorBox(error instanceof ApiError ? error : { message: String(error) }));
    }
  }
  const buttons = el("div", { class: "actions" }, ACTIONS.map(([name, label, url]) =>
    el("button", { type: "button", id: `action-${name}`,
      onclick: () => act(name, url(encodeURIComponent(jobId))) }, label)));
  showBodies();
  root.append(el("h1", {}, `Job ${job.id}`), head, buttons, answer, bodies,
    el("h2", {}, "Streamed text"), deltas,
    el("h2", {}, "Timeline"), timeline,
    el("h2", {}, "Callback attempts"), el("div", { class: "table-wrap" }, el("table", {},
      el("thead", {}, el("tr", {}, ["attempt", "outcome", "status code", "error", "duration",
        "at"].map((h) => el("th", {}, h)))), attempts)));
  stream();
}
