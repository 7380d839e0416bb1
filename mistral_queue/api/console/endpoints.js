// Webhook endpoints: the list, each one's attempt log, and recover-since.
import { ApiError, call } from "./api.js";
import { clear, el, errorBox, json, statusBadge, when } from "./dom.js";

function attemptsTable(items) {
  return el("table", { class: "attempts" },
    el("thead", {}, el("tr", {}, ["attempted", "job", "event", "status code", "error",
      "duration"].map((h) => el("th", {}, h)))),
    el("tbody", {}, items.map((a) => el("tr", {},
      el("td", {}, when(a.attempted_at)), el("td", {}, a.job_id), el("td", {}, a.event_type),
      el("td", {}, a.status_code ?? "—"), el("td", {}, a.error || ""),
      el("td", {}, a.duration_ms !== undefined ? `${a.duration_ms} ms` : "")))));
}

function endpointRow(endpoint, detail) {
  const id = encodeURIComponent(endpoint.id);
  const since = el("input", { type: "datetime-local", name: "since", required: true });
  const recover = el("form", { class: "inline" }, el("label", {}, "recover since", since),
    el("button", { type: "submit" }, "Recover"));
  recover.addEventListener("submit", async (event) => {
    event.preventDefault();
    clear(detail);
    try {
      const body = await call("POST", `/v1/endpoints/${id}/recover`,
        { since: new Date(since.value).toISOString() });
      detail.append(el("p", {}, `recover ${endpoint.id}: accepted`), json(body));
    } catch (error) { detail.append(errorBox(error)); }
  });
  const show = el("button", { type: "button" }, "Attempts");
  show.addEventListener("click", async () => {
    clear(detail);
    try {
      const page = await call("GET", `/v1/endpoints/${id}/attempts?limit=50`);
      detail.append(el("h2", {}, `Attempts of ${endpoint.id}`), attemptsTable(page.data || []));
    } catch (error) { detail.append(errorBox(error)); }
  });
  return el("tr", {}, el("td", {}, endpoint.id), el("td", {}, endpoint.url),
    el("td", {}, (endpoint.event_types || []).join(", ") || "all"),
    el("td", {}, statusBadge(endpoint.disabled ? "disabled" : "enabled")),
    el("td", {}, show, recover));
}

export async function endpointsView(root) {
  root.append(el("h1", {}, "Endpoints"));
  let page;
  try {
    page = await call("GET", "/v1/endpoints?limit=100");
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      root.append(el("p", { class: "note" }, "This server has no endpoints API."));
      return;
    }
    throw error;
  }
  const detail = el("div", { id: "endpoint-detail" });
  const rows = (page.data || []).map((e) => endpointRow(e, detail));
  root.append(el("div", { class: "table-wrap" }, el("table", { id: "endpoints" },
    el("thead", {}, el("tr", {}, ["id", "url", "event types", "state", ""].map((h) =>
      el("th", {}, h)))),
    el("tbody", {}, rows.length ? rows : el("tr", {}, el("td", { colspan: 5 },
      "No endpoints registered."))))), detail);
}
