// Small DOM helpers. Every value from the API goes in as text, never as markup.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

export function append(node, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// Status words carry a symbol too, so they read without colour.
const SYMBOLS = {
  succeeded: "✓", delivered: "✓", failed: "✗", cancelled: "⊘", running: "▶", queued: "…",
  retrying: "↻", requires_action: "!", pending: "…", scheduled: "◷", waiting: "⧗",
};

export function statusBadge(status) {
  const word = status || "none";
  return el("span", { class: `status status-${word}`, "data-status": word },
    `${SYMBOLS[word] || "•"} ${word}`);
}

export function when(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toISOString().replace("T", " ").slice(0, 19);
}

export function seconds(fromIso, toIso) {
  if (!fromIso || !toIso) return "";
  const ms = new Date(toIso) - new Date(fromIso);
  return Number.isFinite(ms) ? `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s` : "";
}

export function usd(cost) {
  if (!cost || cost.total === undefined || cost.total === null) return "";
  return `$${Number(cost.total).toFixed(6)}`;
}

export function json(value) {
  return el("pre", {}, JSON.stringify(value, null, 2));
}

export function collapsible(title, value, open = false) {
  return el("details", { open }, el("summary", {}, title), json(value));
}

export function errorBox(error) {
  const type = error && error.type ? `${error.type}: ` : "";
  return el("p", { class: "error", role: "alert" }, `${type}${error.message || error}`);
}

export function clear(node) {
  node.replaceChildren();
  return node;
}
