// Usage (tokens and cost per day and per model), queue depth and jobs/s now; the admin's tenants.
import { ApiError, call, metricsText, session } from "./api.js";
import { el } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";
const RATE_WINDOW_MS = 5000;

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

// A horizontal bar chart; each bar is labelled with its value, so it reads without colour.
function barChart(title, rows) {
  const width = 720, bar = 18, gap = 6, left = 170, top = 8;
  const max = Math.max(1, ...rows.map((r) => r.value));
  const height = top + rows.length * (bar + gap) + 4;
  const chart = svg("svg", { class: "chart", viewBox: `0 0 ${width} ${Math.max(height, 30)}`,
    role: "img", "aria-label": title });
  rows.forEach((row, i) => {
    const y = top + i * (bar + gap);
    const w = Math.max(1, ((width - left - 110) * row.value) / max);
    chart.append(svg("text", { x: 0, y: y + 13 }, row.label),
      svg("rect", { x: left, y, width: w, height: bar }),
      svg("text", { x: left + w + 6, y: y + 13 }, row.text));
  });
  return el("figure", {}, el("figcaption", {}, title), chart);
}

function groups(page) {
  return (page.data || []).map((g) => ({
    label: String(g.model || g.day || g.key || g.group || "?"),
    tokens: (g.tokens && g.tokens.total) || 0,
    cost: (g.cost && g.cost.total) || 0,
  }));
}

function metricSum(text, name) {
  let total = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) {
      total += Number(line.slice(line.lastIndexOf(" ") + 1)) || 0;
    }
  }
  return total;
}

function card(label, value, id) {
  return el("div", { class: "card" }, el("div", {}, label), el("div", { class: "v", id }, value));
}

async function liveCards(root) {
  const first = await metricsText();
  const depth = metricSum(first, "mq_queue_depth");
  const cards = el("div", { class: "cards" }, card("queue depth", depth, "queue-depth"),
    card("jobs/s now", "…", "jobs-per-second"));
  root.append(el("h2", {}, "Now"), cards);
  await new Promise((resolve) => setTimeout(resolve, RATE_WINDOW_MS));
  const second = await metricsText();
  const done = metricSum(second, "mq_jobs_finished_total") - metricSum(first, "mq_jobs_finished_total");
  cards.querySelector("#jobs-per-second").textContent = (done / (RATE_WINDOW_MS / 1000)).toFixed(1);
}

export async function usageView(root) {
  root.append(el("h1", {}, "Usage"));
  let byDay;
  let byModel;
  try {
    [byDay, byModel] = await Promise.all([call("GET", "/v1/usage?group_by=day"),
      call("GET", "/v1/usage?group_by=model")]);
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 404) throw error;
    root.append(el("p", { class: "note" }, "This server has no usage API."));
  }
  if (byDay) {
    const tokens = (byDay.tokens && byDay.tokens.total) || 0;
    const cost = (byDay.cost && byDay.cost.total) || 0;
    root.append(el("div", { class: "cards" }, card("tokens", tokens, "usage-tokens"),
      card("cost (USD)", cost.toFixed(6), "usage-cost"), card("jobs", byDay.jobs ?? 0, "usage-jobs")));
    for (const [title, page] of [["per day", byDay], ["per model", byModel]]) {
      const rows = groups(page);
      root.append(barChart(`Tokens ${title}`, rows.map((r) => ({ label: r.label, value: r.tokens,
        text: `${r.tokens} tokens` }))), barChart(`Cost ${title}`, rows.map((r) => ({
        label: r.label, value: r.cost, text: `$${r.cost.toFixed(6)}` }))));
    }
  }
  await liveCards(root);
}

// The admin's tenant picker: the admin key then acts as the chosen tenant (X-MQ-Tenant).
function pick(tenant) {
  session.tenant = tenant;
  location.hash = "#/jobs";
}

export async function tenantsView(root) {
  const page = await call("GET", "/v1/admin/tenants");
  const input = el("input", { id: "tenant-id", name: "tenant", required: true,
    placeholder: "tenant id" });
  const form = el("form", { class: "inline", id: "tenant-pick" },
    el("label", { for: "tenant-id" }, "view tenant", input),
    el("button", { class: "primary", type: "submit" }, "View"));
  form.addEventListener("submit", (event) => { event.preventDefault(); pick(input.value.trim()); });
  root.append(el("h1", {}, "Tenants"), form, el("table", { id: "tenants" },
    el("thead", {}, el("tr", {}, ["id", "keys", "limits", ""].map((h) => el("th", {}, h)))),
    el("tbody", {}, (page.data || []).map((t) => el("tr", { "data-tenant": t.id },
      el("td", {}, t.id), el("td", {}, (t.keys || []).length),
      el("td", {}, JSON.stringify(t.limits || {})),
      el("td", {}, el("button", { type: "button", onclick: () => pick(t.id) }, "View jobs")))))));
}
