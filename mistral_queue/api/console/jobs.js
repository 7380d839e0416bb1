// The jobs table: the API's filters and cursor paging, rows updated live from GET /v1/events.
import { call, follow } from "./api.js";
import { el, seconds, statusBadge, usd, when } from "./dom.js";

const STATUSES = ["", "scheduled", "waiting", "queued", "running", "retrying", "requires_action",
  "succeeded", "failed", "cancelled"];
const TYPES = ["", "chat", "agent", "batch", "embeddings", "ocr", "moderation", "classification",
  "fim"];
const LIVE_SLACK_MS = 5000;  // start the live feed a little in the past; row refreshes are idempotent

function modelOf(job) {
  const request = job.request || {};
  return request.model || request.agent_id || "";
}

function row(job) {
  return el("tr", { "data-job-id": job.id },
    el("td", { class: "id" }, el("a", { href: `#/jobs/${encodeURIComponent(job.id)}` }, job.id)),
    el("td", {}, job.type),
    el("td", {}, statusBadge(job.status)),
    el("td", { class: "optional" }, modelOf(job)),
    el("td", { class: "optional" }, job.attempts),
    el("td", { class: "optional" }, when(job.created_at)),
    el("td", { class: "optional" }, seconds(job.started_at, job.finished_at)),
    el("td", { class: "optional" }, usd(job.cost)));
}

function select(name, values, chosen) {
  return el("label", {}, name,
    el("select", { name }, values.map((v) => el("option", { value: v, selected: v === chosen },
      v || "any"))));
}

function query(filters, cursor) {
  const params = new URLSearchParams({ limit: "25" });
  for (const [name, value] of Object.entries(filters)) if (value) params.set(name, value);
  if (cursor) params.set("cursor", cursor);
  return `/v1/jobs?${params}`;
}

export async function jobsView(root, _params, signal) {
  const filters = { status: "", type: "" };
  const cursors = [null];
  const body = el("tbody", { id: "jobs-body" });
  const liveState = el("span", { class: "live", id: "live-state" }, "connecting…");
  const next = el("button", { type: "button", id: "next-page" }, "Next page →");
  const first = el("button", { type: "button", id: "first-page" }, "← First page");
  const form = el("form", { class: "toolbar", id: "job-filters" },
    select("status", STATUSES, ""), select("type", TYPES, ""),
    el("button", { type: "submit" }, "Filter"), first, next, liveState);
  const table = el("div", { class: "table-wrap" }, el("table", { id: "jobs" },
    el("thead", {}, el("tr", {}, ["id", "type", "status", "model", "attempts", "created",
      "duration", "cost"].map((h, i) => el("th", { class: i > 2 ? "optional" : null }, h)))),
    body));
  root.append(el("h1", {}, "Jobs"), form, table);

  async function load() {
    const page = await call("GET", query(filters, cursors[cursors.length - 1]));
    body.replaceChildren(...page.data.map(row));
    if (!page.data.length) body.append(el("tr", {}, el("td", { colspan: 8 }, "No jobs yet.")));
    next.disabled = !page.next_cursor;
    next.dataset.cursor = page.next_cursor || "";
    first.disabled = cursors.length === 1;
  }
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(form);
    filters.status = data.get("status");
    filters.type = data.get("type");
    cursors.splice(1);
    load();
  });
  next.addEventListener("click", () => { cursors.push(next.dataset.cursor); load(); });
  first.addEventListener("click", () => { cursors.splice(1); load(); });
  await load();

  async function refresh(jobId) {
    const job = await call("GET", `/v1/jobs/${encodeURIComponent(jobId)}`);
    const existing = body.querySelector(`tr[data-job-id="${CSS.escape(jobId)}"]`);
    const matches = (!filters.status || job.status === filters.status)
      && (!filters.type || job.type === filters.type);
    if (existing) existing.replaceWith(row(job));
    else if (matches && cursors.length === 1) {
      const empty = body.querySelector("td[colspan]");
      if (empty) empty.parentElement.remove();
      body.prepend(row(job));
    }
  }
  const after = `${Date.now() - LIVE_SLACK_MS}-0`;
  follow("/v1/events", {
    after, signal,
    onState: (state) => { liveState.textContent = state === "live" ? "● live" : state; },
    onEvent: (event) => {
      if (event.type !== "job.delta" && event.data.job_id) refresh(event.data.job_id).catch(() => {});
    },
  });
}
