// The reconciliation report (对账): the declared-vs-counted chart, the discrepancy form, the
// supervisor's confirmation. After a change the page's #report block is fetched afresh and
// swapped in, so the table, totals and chart always come from the one server-side rendering.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const BAR_COLOURS = { match: "#0a7a2f", short: "#b00020", over: "#b35c00" };
const DECLARED_COLOUR = "#b9c3cf";

function $(id) {
  return document.getElementById(id);
}

function svg(name, attributes, text) {
  const element = document.createElementNS(SVG_NS, name);
  for (const [key, value] of Object.entries(attributes || {})) element.setAttribute(key, value);
  if (text !== undefined) element.textContent = text;
  return element;
}

// --- the chart: one pair of horizontal bars per line, drawn at the container's real width ------

let chartWidth = 0;

function drawChart(force) {
  const box = $("chart");
  const source = $("chart-data");
  if (!box || !source) return;
  const width = Math.max(box.clientWidth, 260);
  if (!force && width === chartWidth) return;
  chartWidth = width;
  const lines = JSON.parse(source.textContent);
  const narrow = width < 480;
  const labelWidth = narrow ? 40 : 170;
  const valueWidth = 44;
  const rowHeight = 50;
  const barHeight = 16;
  const top = 4;
  const height = top + Math.max(lines.length, 1) * rowHeight;
  const area = width - labelWidth - valueWidth;
  const max = Math.max(1, ...lines.map((l) => Math.max(l.declared, l.counted)));
  const chart = svg("svg", {
    width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": "申报与实点 Declared vs counted per line", class: "bars",
  });
  if (!lines.length) {
    chart.append(svg("text", { x: 0, y: 24, class: "label" }, "无舱单行 No lines"));
  }
  lines.forEach((line, index) => {
    const y = top + index * rowHeight;
    const group = svg("g", { "data-line": line.line_no, class: `row row-${line.status}` });
    group.append(svg("title", {},
      `行 line ${line.line_no} ${line.sku}: 申报 declared ${line.declared}, 实点 counted ${line.counted}`));
    const label = narrow ? `${line.line_no}` : `${line.line_no} · ${line.sku}`;
    group.append(svg("text", { x: 0, y: y + rowHeight / 2 + 1, class: "label" },
      label.length > 20 ? label.slice(0, 19) + "…" : label));
    const declared = Math.round((line.declared / max) * area);
    const counted = Math.round((line.counted / max) * area);
    group.append(svg("rect", {
      x: labelWidth, y: y + 6, width: Math.max(declared, 1), height: barHeight,
      fill: DECLARED_COLOUR, class: "declared",
    }));
    group.append(svg("text", { x: labelWidth + declared + 4, y: y + 6 + barHeight - 2,
      class: "value" }, String(line.declared)));
    group.append(svg("rect", {
      x: labelWidth, y: y + 8 + barHeight, width: Math.max(counted, line.counted ? 1 : 0),
      height: barHeight, fill: BAR_COLOURS[line.status] || "#0b5cad", class: "counted",
    }));
    group.append(svg("text", { x: labelWidth + counted + 4, y: y + 8 + 2 * barHeight - 2,
      class: `value value-${line.status}` }, String(line.counted)));
    chart.append(group);
  });
  box.replaceChildren(chart);
}

let resizeTimer = null;
window.addEventListener("resize", () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => drawChart(false), 150);
});

// --- the progress bar: sized here, as the page's Content-Security-Policy allows no inline style --

function sizeProgress() {
  for (const bar of document.querySelectorAll(".progress[aria-valuenow] > .bar")) {
    const value = Number(bar.parentElement.getAttribute("aria-valuenow"));
    bar.style.width = `${Math.min(100, Math.max(0, value || 0))}%`;
  }
}

// --- fetching the page afresh ------------------------------------------------------------------

async function refresh() {
  const response = await fetch(location.pathname + location.search, {
    credentials: "same-origin", headers: { Accept: "text/html" },
  });
  if (!response.ok) throw new Error(`HTTP ${response.status}: the report could not be reloaded`);
  const html = await response.text();
  const fresh = new DOMParser().parseFromString(html, "text/html").getElementById("report");
  if (!fresh) throw new Error("the report could not be reloaded");
  $("report").replaceWith(document.importNode(fresh, true));
  sizeProgress();
  drawChart(true);
  initForm();
}

async function refreshOrSay(message) {
  try {
    await refresh();
    flash(message, "info");
  } catch (error) {
    flash(`${message} — 但页面未能刷新 but the page could not refresh; reload it: ${error.message}`);
  }
}

// --- the discrepancy form ----------------------------------------------------------------------

// Whether the manager has chosen the kind: a chosen kind is never overwritten by a suggestion.
// The quantity is never suggested: it is typed, so no single click writes a line off.
let kindChosen = false;

function suggest() {
  const line = $("d-line");
  if (!line || kindChosen) return;
  const option = line.selectedOptions[0];
  const unexplained = option && option.value ? Number(option.dataset.unexplained) : 0;
  if (option && !option.value) $("d-kind").value = "wrong_item";
  else if (unexplained < 0) $("d-kind").value = "short";
  else if (unexplained > 0) $("d-kind").value = "over";
}

function initForm() {
  kindChosen = false;
  suggest();
}

document.addEventListener("input", (event) => {
  if (event.target.id === "d-kind") kindChosen = true;
});

document.addEventListener("change", (event) => {
  if (event.target.id === "d-kind") kindChosen = true;
  if (event.target.id === "d-line") suggest();
});

function textOrNull(id) {
  const value = $(id).value.trim();
  return value === "" ? null : value;
}

document.addEventListener("submit", async (event) => {
  if (event.target.matches("form.fix-form")) {
    event.preventDefault();
    await submitFix(event.target);
    return;
  }
  if (event.target.id !== "discrepancy") return;
  event.preventDefault();
  clearFlash();
  clearFieldErrors(event.target);
  const manifestId = $("report").dataset.manifest;
  const qty = $("d-qty").value.trim();
  const line = $("d-line").value;
  const body = {
    line_no: line === "" ? null : Number(line),
    kind: $("d-kind").value,
    qty: qty === "" ? null : Number(qty),
    note: textOrNull("d-note"),
    disposition: textOrNull("d-disposition"),
  };
  const submit = $("d-submit");
  submit.disabled = true;
  let record;
  try {
    record = await api("POST", `/api/manifests/${manifestId}/discrepancies`, body);
  } catch (error) {
    showError(error, $("discrepancy")); // under each field; the form keeps everything typed
    submit.disabled = false;
    return;
  }
  const where = record.line_no === null ? "不在舱单 not in the manifest" : `行 line ${record.line_no}`;
  await refreshOrSay(`已记录 Recorded discrepancy #${record.id}: ${record.kind} ${record.qty}, ${where}`);
});

// --- a supervisor's correction of a record: replace it with a new one, or withdraw it -------

// A correction may move a record to any line of this page: the discrepancy form's choices.
function addPageLines(select) {
  const none = select.querySelector('option[value=""]');
  for (const option of $("d-line").options) {
    if (!option.value) continue;
    const own = [...select.options].find((o) => o.value === option.value);
    if (own) {
      own.textContent = option.dataset.label;
      continue;
    }
    const after = [...select.options].find((o) => o === none || Number(o.value) > Number(option.value));
    select.insertBefore(new Option(option.dataset.label, option.value), after);
  }
}

function openFix(recordId, action) {
  const row = $(`fix-${recordId}`);
  if (!row) return;
  const select = row.querySelector("select[name=line_no]");
  if (select && !select.dataset.filled) {
    select.dataset.filled = "true";
    addPageLines(select);
  }
  row.hidden = false;
  for (const form of row.querySelectorAll("form.fix-form")) {
    form.hidden = form.dataset.action !== action;
  }
  const form = row.querySelector(`form[data-action="${action}"]`);
  const first = form.querySelector(action === "replace" ? "[name=qty]" : "[name=reason]");
  first.focus();
}

function closeFix(row) {
  row.hidden = true;
  for (const form of row.querySelectorAll("form.fix-form")) form.hidden = true;
}

function fieldOrNull(form, name) {
  const value = form.elements[name].value.trim();
  return value === "" ? null : value;
}

async function submitFix(form) {
  clearFlash();
  clearFieldErrors(form);
  const corrects = Number(form.dataset.corrects);
  const action = form.dataset.action;
  const reason = fieldOrNull(form, "reason");
  if (!reason) {
    flash("请填写原因 A reason is required for a correction.");
    form.elements.reason.focus();
    return;
  }
  let body;
  if (action === "reverse") {
    body = { corrects, action, note: reason };
  } else {
    const line = form.elements.line_no.value;
    const qty = form.elements.qty.value.trim();
    const note = fieldOrNull(form, "note");
    body = {
      corrects,
      action,
      line_no: line === "" ? null : Number(line),
      kind: form.elements.kind.value,
      qty: qty === "" ? null : Number(qty),
      note: note ? `${note} · 更正原因 reason: ${reason}` : `更正原因 reason: ${reason}`,
      disposition: fieldOrNull(form, "disposition"),
    };
  }
  const submit = form.querySelector("button[type=submit]");
  submit.disabled = true;
  let record;
  try {
    record = await api("POST", `/api/manifests/${$("report").dataset.manifest}/discrepancies`,
      body);
  } catch (error) {
    showError(error, form); // under each field; the form stays open with everything typed
    submit.disabled = false;
    return;
  }
  await refreshOrSay(action === "reverse"
    ? `已撤销 Withdrew discrepancy #${corrects} (撤销记录 withdrawal #${record.id})`
    : `已更正 Corrected discrepancy #${corrects}: #${record.id} replaces it ` +
      `(${record.kind} ${record.qty})`);
}

// --- confirming the tally, printing ------------------------------------------------------------

function showRefused(error) {
  const box = $("confirm-refused");
  box.replaceChildren();
  const title = document.createElement("p");
  title.textContent = "无法确认理货 The tally cannot be confirmed yet:";
  const list = document.createElement("ul");
  for (const item of error.errors) {
    const entry = document.createElement("li");
    entry.textContent = bilingual(item.message_zh, item.message) || JSON.stringify(item);
    if (item.line_no !== undefined) entry.dataset.line = item.line_no;
    list.append(entry);
  }
  box.append(title, list);
  box.hidden = false;
  for (const row of document.querySelectorAll("table.report-lines tbody tr")) {
    row.classList.toggle("refused",
      error.errors.some((item) => String(item.line_no) === row.dataset.line));
  }
  box.scrollIntoView({ block: "nearest" });
}

document.addEventListener("click", async (event) => {
  const target = event.target.closest("button");
  if (!target) return;
  if (target.id === "print") {
    window.print();
  } else if (target.classList.contains("correct-open") ||
             target.classList.contains("withdraw-open")) {
    const recordId = target.closest("tr").dataset.record;
    openFix(recordId, target.classList.contains("correct-open") ? "replace" : "reverse");
  } else if (target.classList.contains("fix-cancel")) {
    closeFix(target.closest("tr"));
  } else if (target.id === "confirm-ask") {
    target.hidden = true;
    $("confirm-sure").hidden = false;
    $("confirm-yes").focus();
  } else if (target.id === "confirm-no") {
    $("confirm-sure").hidden = true;
    $("confirm-ask").hidden = false;
  } else if (target.id === "confirm-yes") {
    clearFlash();
    target.disabled = true;
    const manifestId = $("report").dataset.manifest;
    try {
      const done = await api("POST", `/api/manifests/${manifestId}/tally/confirm`);
      await refreshOrSay(
        `理货已确认 Tally confirmed: ${done.totals.counted} of ${done.totals.declared} counted; ` +
        "核注清单 the inventory list (INV101) is queued for customs.");
    } catch (error) {
      target.disabled = false;
      $("confirm-sure").hidden = true;
      $("confirm-ask").hidden = false;
      if (error instanceof ApiError && error.status === 409 && error.errors.length) {
        showRefused(error);
      } else {
        flash(error);
      }
    }
  }
});

window.addEventListener("beforeprint", () => drawChart(true));

sizeProgress();
drawChart(true);
initForm();
