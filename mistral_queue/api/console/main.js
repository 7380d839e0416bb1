// The console's router: #/signin, #/jobs, #/jobs/<id>, #/endpoints, #/usage, #/tenants (admin).
import { ApiError, call, session } from "./api.js";
import { clear, el, errorBox } from "./dom.js";
import { endpointsView } from "./endpoints.js";
import { jobView } from "./job.js";
import { jobsView } from "./jobs.js";
import { tenantsView, usageView } from "./usage.js";

const view = document.getElementById("view");
const nav = document.getElementById("nav");
let current = null;  // AbortController of the view on screen: its streams stop when it leaves

const ROUTES = [
  [/^#\/jobs\/([A-Za-z0-9_-]{1,64})$/, jobView, "jobs"],
  [/^#\/jobs$/, jobsView, "jobs"],
  [/^#\/endpoints$/, endpointsView, "endpoints"],
  [/^#\/usage$/, usageView, "usage"],
  [/^#\/tenants$/, tenantsView, "tenants"],
];

// Admin keys see the tenant list; a tenant key sees its own jobs.
async function roleOf() {
  session.tenant = null;
  try {
    await call("GET", "/v1/jobs?limit=1");
    return "tenant";
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 401) throw error;
  }
  try {
    await call("GET", "/v1/admin/tenants");
  } catch (error) {
    // A tenant key there is 401/403, and a server without the admin API answers 404.
    if (error instanceof ApiError && [403, 404].includes(error.status)) throw new ApiError(401, null);
    throw error;
  }
  return "admin";
}

function signInView(root) {
  const input = el("input", {
    id: "api-key", type: "password", name: "api-key", autocomplete: "off", required: true,
    placeholder: "tenant API key or admin key",
  });
  const status = el("div", { id: "signin-status" });
  const form = el("form", { class: "inline", id: "signin" },
    el("label", { for: "api-key" }, "API key", input),
    el("button", { class: "primary", type: "submit" }, "Sign in"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    session.key = input.value.trim();
    clear(status);
    try {
      const role = await roleOf();
      sessionStorage.setItem("mq.console.role", role);
      location.hash = role === "admin" ? "#/tenants" : "#/jobs";
    } catch (error) {
      session.key = null;
      const refused = error instanceof ApiError && error.status === 401;
      status.append(errorBox(refused ? { type: "unauthorized", message:
        "That key was refused (401): check it and try again." } : error));
    }
  });
  root.append(el("h1", {}, "Sign in"),
    el("p", { class: "note" }, "The key stays in this tab's session storage only."),
    form, status);
}

function render() {
  if (current) current.abort();
  current = new AbortController();
  clear(view);
  const hash = location.hash || "#/jobs";
  if (!session.key || hash === "#/signin") {
    nav.hidden = true;
    signInView(view);
    return;
  }
  nav.hidden = false;
  const admin = sessionStorage.getItem("mq.console.role") === "admin";
  nav.querySelector("[data-nav=tenants]").hidden = !admin;
  document.getElementById("acting").textContent = admin && session.tenant
    ? `viewing tenant ${session.tenant}` : "";
  for (const [pattern, show, section] of ROUTES) {
    const match = hash.match(pattern);
    if (!match) continue;
    for (const link of nav.querySelectorAll("[data-nav]")) {
      if (link.dataset.nav === section) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    // Each view draws into its own box: a slow view that finishes after the user moved on
    // only fills a box that is no longer on the page.
    const box = el("div");
    view.append(box);
    const { signal } = current;
    show(box, match.slice(1), signal).catch((error) => {
      if (signal.aborted) return;
      if (error instanceof ApiError && error.status === 401) { session.key = null; render(); return; }
      box.append(errorBox(error));
    });
    return;
  }
  location.hash = sessionStorage.getItem("mq.console.role") === "admin" && !session.tenant
    ? "#/tenants" : "#/jobs";
}

document.getElementById("signout").addEventListener("click", () => {
  session.key = null;
  session.tenant = null;
  sessionStorage.removeItem("mq.console.role");
  location.hash = "#/signin";
  render();
});
window.addEventListener("hashchange", render);
render();
