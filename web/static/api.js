// The pages' one way to call the JSON API: same-origin session, CSRF header, readable errors
// in Chinese and English (each error has a stable `code`, `error` and `error_zh`; each of its
// `errors` a `code`, `message` and `message_zh`), field errors shown beside their fields, and
// times in the warehouse's zone.
"use strict";

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
    this.code = (body && body.code) || null;
    this.messageZh = (body && body.error_zh) || "";
    this.errors = (body && body.errors) || [];
  }
}

// "中文 English" for a message of both languages (either may be missing).
function bilingual(zh, en) {
  if (zh && en && zh !== en) return `${zh} ${en}`;
  return zh || en || "";
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

const WHERE_KEYS = ["row", "index", "line_no", "pallet", "check", "field", "column"];

// One readable sentence per error detail, in both languages, e.g.
// "row 3, declared_qty: 必须填写数字 a number is required". ``items`` (optional) picks which.
function describeErrors(error, items) {
  return (items || error.errors || []).map((e) => {
    const where = WHERE_KEYS
      .filter((k) => e[k] !== undefined && e[k] !== null)
      .map((k) => (k === "field" || k === "column" ? e[k] : `${k.replace("_", " ")} ${e[k]}`));
    return (where.length ? where.join(", ") + ": " : "") + bilingual(e.message_zh, e.message);
  });
}

// --- field errors: a message under the field it concerns ---------------------------------------
// A form marks where a field's message goes with data-field="name" (on the input, or on an
// element wrapping it), or just by the input's name; an item located in a list (pallet 2, check
// 0, row 5) goes to the element that also has data-where="pallet:2" (else to the flash).

function fieldElement(root, item) {
  if (!item.field || !root) return null;
  const field = CSS.escape(String(item.field));
  const located = ["pallet", "check", "index", "row"].filter((k) => item[k] !== undefined && item[k] !== null);
  if (located.length) {
    const where = located.map((k) => `${k}:${item[k]}`).join(" ");
    return root.querySelector(`[data-field="${field}"][data-where="${CSS.escape(where)}"]`);
  }
  return root.querySelector(`[data-field="${field}"]`) || root.querySelector(`[name="${field}"]`);
}

let fieldErrorCount = 0;

// Put each error item beside its field in ``root`` (a form or section); return the items that
// have no field there. Earlier messages in ``root`` are cleared first.
function showFieldErrors(root, error) {
  clearFieldErrors(root);
  const rest = [];
  for (const item of (error && error.errors) || []) {
    const target = fieldElement(root, item);
    if (!target) { rest.push(item); continue; }
    const input = target.matches("input, select, textarea, button") ? target
      : target.querySelector("input, select, textarea");
    const anchor = target.closest("label") || target;
    const message = document.createElement("p");
    message.className = "error field-error";
    message.id = `field-error-${++fieldErrorCount}`;
    message.dataset.fieldError = item.field;
    if (item.code) message.dataset.code = item.code;
    const zh = document.createElement("span");
    zh.lang = "zh-Hans";
    zh.textContent = item.message_zh || "";
    message.append(zh, document.createElement("br"), document.createTextNode(item.message || ""));
    anchor.after(message);
    if (input) {
      input.setAttribute("aria-invalid", "true");
      const described = (input.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
      input.setAttribute("aria-describedby", [...described, message.id].join(" "));
    }
  }
  const first = root && root.querySelector("[aria-invalid=true]");
  if (first && rest.length === 0) first.focus({ preventScroll: false });
  return rest;
}

function clearFieldErrors(root) {
  if (!root) return;
  for (const message of root.querySelectorAll(".field-error[data-field-error]")) {
    for (const input of root.querySelectorAll(`[aria-describedby~="${message.id}"]`)) {
      const left = input.getAttribute("aria-describedby").split(" ").filter((id) => id !== message.id);
      if (left.length) input.setAttribute("aria-describedby", left.join(" "));
      else input.removeAttribute("aria-describedby");
      input.removeAttribute("aria-invalid");
    }
    message.remove();
  }
}

// An API error shown where it belongs: field messages beside their fields in ``root``, the
// error itself and what has no field there in the flash box.
function showError(error, root) {
  if (!(error instanceof ApiError)) { flash(error); return; }
  const rest = showFieldErrors(root, error);
  flash(error, undefined, rest);
}

// --- times and weights ----------------------------------------------------------------------

// The warehouse's time zone, from <meta name="tally-timezone"> (the server's TIMEZONE setting).
function timeZone() {
  const meta = document.querySelector('meta[name="tally-timezone"]');
  return (meta && meta.content) || "Asia/Shanghai";
}

// A stored UTC time (ISO 8601) in the warehouse's zone: "2026-12-03 17:25 +08:00"; ``seconds``
// adds the seconds. Anything that is not a time is returned as it came.
function formatTime(iso, { seconds = false } = {}) {
  if (!iso) return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  const parts = {};
  const format = new Intl.DateTimeFormat("en-CA", {
    timeZone: timeZone(), year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit",
    minute: "2-digit", second: "2-digit", hourCycle: "h23", timeZoneName: "longOffset",
  });
  for (const part of format.formatToParts(date)) parts[part.type] = part.value;
  const offset = (parts.timeZoneName || "").replace(/^GMT$/, "GMT+00:00").replace("GMT", "");
  const time = `${parts.hour}:${parts.minute}${seconds ? ":" + parts.second : ""}`;
  return `${parts.year}-${parts.month}-${parts.day} ${time} ${offset}`;
}

// A weight as stored ("9506.80000") as people read it: "9506.8 kg".
function formatKg(value) {
  if (value === null || value === undefined || value === "") return "";
  let text = String(value);
  if (text.includes(".")) text = text.replace(/0+$/, "").replace(/\.$/, "");
  return `${text} kg`;
}

// Show an error (or an info message) in the page's flash box; never lose what the user typed.
// An API error shows in Chinese and English, with its details (``items``: only those, e.g. the
// ones showFieldErrors could not place beside a field).
function flash(messageOrError, kind, items) {
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
  if (messageOrError instanceof ApiError && messageOrError.messageZh) {
    const zh = document.createElement("span");
    zh.lang = "zh-Hans";
    zh.className = "flash-zh";
    zh.textContent = messageOrError.messageZh;
    box.append(zh, document.createElement("br"));
    if (messageOrError.code) box.dataset.code = messageOrError.code;
  } else {
    delete box.dataset.code;
  }
  box.append(document.createTextNode(text));
  const details = isError ? describeErrors(messageOrError, items) : [];
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
