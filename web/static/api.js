// The pages' one way to call the JSON API: same-origin session, CSRF header, readable errors.
"use strict";

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
    this.errors = (body && body.errors) || [];
  }
}

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

// api("POST", "/api/...", {json}) or api("POST", path, formData). Throws ApiError on 4xx/5xx,
// TypeError when the network is down (the caller decides whether to queue).
async function api(method, path, body) {
  const headers = { "X-CSRF-Token": csrfToken(), "Accept": "application/json" };
  let payload = body;
  if (body !== undefined && !(body instanceof FormData)) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const response = await fetch(path, { method, headers, body: payload, credentials: "same-origin" });
  const type = response.headers.get("Content-Type") || "";
  const data = type.includes("application/json") ? await response.json() : await response.text();
  if (!response.ok) throw new ApiError(response.status, typeof data === "object" ? data : null);
  return data;
}

// One readable sentence per error detail, e.g. "row 3, declared_qty: must be a whole number".
function describeErrors(error) {
  return (error.errors || []).map((e) => {
    const where = ["row", "index", "line_no", "pallet", "check", "field", "column"]
      .filter((k) => e[k] !== undefined && e[k] !== null)
      .map((k) => (k === "field" || k === "column" ? e[k] : `${k.replace("_", " ")} ${e[k]}`));
    return (where.length ? where.join(", ") + ": " : "") + (e.message || "");
  });
}

// Show an error (or an info message) in the page's flash box; never lose what the user typed.
function flash(messageOrError, kind) {
  const box = document.getElementById("flash");
  if (!box) return;
  box.hidden = false;
  box.className = "flash" + (kind === "info" ? " info" : "");
  box.replaceChildren();
  const isError = messageOrError instanceof Error;
  let text = isError ? messageOrError.message : String(messageOrError);
  if (isError && messageOrError instanceof TypeError) {
    text = "网络不可用 The network is unavailable: " + text;
  }
  box.append(document.createTextNode(text));
  const details = isError ? describeErrors(messageOrError) : [];
  if (details.length) {
    const list = document.createElement("ul");
    for (const d of details) {
      const item = document.createElement("li");
      item.textContent = d;
      list.append(item);
    }
    box.append(list);
  }
  box.scrollIntoView({ block: "nearest" });
}

function clearFlash() {
  const box = document.getElementById("flash");
  if (box) box.hidden = true;
}
