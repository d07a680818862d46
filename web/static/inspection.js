// The inspection page (查验): pallets with their IPPC marks, the customs checks of every manifest
// line, the escort's signature; then the recorded inspection with what its pass waits for.
"use strict";

const MATERIAL_NAMES = {
  wood: "木质 Wood", plastic: "塑料 Plastic", metal: "金属 Metal", paper: "纸质 Paper",
  none: "无托盘 None",
};
const DISPOSITION_NAMES = {
  pass: "放行 Pass", fumigate: "熏蒸 Fumigate", destroy: "销毁 Destroy", return: "退运 Return",
};
const ASPECT_NAMES = {
  nature: "品名 Nature", origin: "原产地 Origin", condition: "状态 Condition",
  quantity: "数量 Quantity", value: "价值 Value",
};
const RESULT_NAMES = {
  pending: "待完成 Pending", passed: "已通过 Passed", failed: "不通过 Failed",
  superseded: "已被替代 Superseded",
};
const UNMET_PREFIX = { task: "处置未完成 ", check: "查验不合格 ", signature: "未签字 " };
const TREATMENT_ZH = { HT: "热处理", MB: "溴甲烷熏蒸", DH: "介电加热", SF: "硫酰氟熏蒸" };

const PAGE = JSON.parse(document.getElementById("inspection-page").textContent);
const BASE = `/api/manifests/${PAGE.manifest_id}/inspections`;
// Every line of the manifest, from its [first, last] runs: the table shows one page of them.
const LINE_NOS = PAGE.line_runs.flatMap(([first, last]) =>
  Array.from({ length: last - first + 1 }, (_, i) => first + i));

// --- the IPPC mark, read as tally/ippc.py reads it (the server's answer is the one that counts) --

const IPPC_COUNTRIES = new Set(PAGE.ippc.countries);
const IPPC_TREATMENTS = PAGE.ippc.treatments;
const IPPC_DASHES = /[\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe63]/g;
const IPPC_SEPARATORS = /[\s/,;()[\]【】]+/u;
const HAS_DIGIT = /\p{Nd}/u;

function ippcTokens(text) {
  const tokens = [];
  for (const word of text.split(IPPC_SEPARATORS)) {
    word.split("-").forEach((piece, index) => {
      if (piece) tokens.push([piece, index > 0 && tokens.length > 0]);
    });
  }
  return tokens;
}

// {ok, country, producer, treatments, debarked, problems}: a port of tally.ippc.parse_mark.
function ippcParse(text) {
  const raw = typeof text === "string" ? text : "";
  if (!raw.trim()) return { ok: false, problems: ["mark text is empty"] };
  if ([...raw].length > 200) return { ok: false, problems: ["mark text is over 200 characters"] };
  const normal = raw.normalize("NFKC").replace(IPPC_DASHES, "-").toUpperCase();
  let tokens = ippcTokens(normal).filter(([token]) => token !== "IPPC");
  const problems = [];
  let country = "";
  let numberInCountry = false;
  const first = tokens.length ? tokens[0][0] : "";
  if (/^[A-Z]{2}$/.test(first)) {
    country = first;
    tokens = tokens.slice(1);
    if (!IPPC_COUNTRIES.has(country)) {
      problems.push(`unknown country code '${country}' (not ISO 3166-1 alpha-2)`);
    }
  } else if (/^[A-Z]+$/.test(first)) {
    problems.push(`country code '${first}' must be ISO 3166-1 alpha-2 (two letters)`);
    tokens = tokens.slice(1);
  } else if (/^[A-Z]{2}\p{Nd}+$/u.test(first)) {
    problems.push(`country code and producer number run together in '${first}'`);
    numberInCountry = true;
    tokens = tokens.slice(1);
  } else {
    problems.push("missing country code");
  }
  let split = 0;
  tokens.forEach(([token], index) => { if (HAS_DIGIT.test(token)) split = index + 1; });
  const producer = tokens.slice(0, split)
    .map(([token, hyphen], index) => (index === 0 ? "" : hyphen ? "-" : " ") + token).join("");
  if (!producer && !numberInCountry) problems.push("missing producer number");
  const treatments = [];
  let debarked = false;
  let unknown = false;
  for (const [token] of tokens.slice(split)) {
    if (token === "DB") {
      debarked = true;
    } else if (token in IPPC_TREATMENTS) {
      if (treatments.includes(token)) problems.push(`treatment code '${token}' repeated`);
      else treatments.push(token);
    } else {
      problems.push(token === "KD" ? "KD (kiln dried) is not an ISPM 15 treatment code"
        : `unknown treatment code '${token}'`);
      unknown = true;
    }
  }
  if (!treatments.length && !unknown) problems.push("missing treatment code (HT, MB, DH or SF)");
  if (problems.length) return { ok: false, problems };
  return { ok: true, country, producer, treatments, debarked, problems: [] };
}

// What a parsed mark says, e.g. "国家 Country CN · 生产者 Producer 000123 · HT 热处理 heat treatment".
function markMeaning(mark) {
  const parts = [`国家 Country ${mark.country}`, `生产者 Producer ${mark.producer}`];
  for (const code of mark.treatments) {
    parts.push(`${code} ${TREATMENT_ZH[code] || ""} ${IPPC_TREATMENTS[code] || ""}`.trim());
  }
  if (mark.debarked) parts.push("DB 去树皮 debarked");
  return parts.join(" · ");
}

// --- small DOM helpers ------------------------------------------------------------------------

function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("data")) node.setAttribute(key.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase()), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function when(iso) {
  return formatTime(iso);  // in the warehouse's zone (api.js)
}

// --- the form ---------------------------------------------------------------------------------

const form = document.getElementById("inspection-form");
const palletList = document.getElementById("pallets");
const palletTemplate = document.getElementById("pallet-template");
let formPad = null;

function pallets() {
  return [...palletList.querySelectorAll("fieldset.pallet")];
}

function nextPalletNo() {
  const numbers = pallets().map((fs) => {
    const match = /(\d+)\s*$/.exec(fs.querySelector("[name=pallet_no]").value);
    return match ? Number(match[1]) : 0;
  });
  return "P" + (Math.max(0, ...numbers) + 1);
}

function addPallet(values) {
  const fieldset = palletTemplate.content.firstElementChild.cloneNode(true);
  const v = { pallet_no: nextPalletNo(), material: "wood", mark_text: "", pests_found: false,
              pest_note: "", disposition: "pass", ...(values || {}) };
  fieldset.querySelector("[name=pallet_no]").value = v.pallet_no || "";
  fieldset.querySelector("[name=material]").value = v.material || "wood";
  fieldset.querySelector("[name=mark_text]").value = v.mark_text || "";
  fieldset.querySelector("[name=pests_found]").checked = Boolean(v.pests_found);
  fieldset.querySelector("[name=pest_note]").value = v.pest_note || "";
  fieldset.querySelector("[name=disposition]").value = v.disposition || "pass";
  fieldset.addEventListener("input", () => updatePallet(fieldset));
  fieldset.addEventListener("change", () => updatePallet(fieldset));
  fieldset.querySelector(".remove-pallet").addEventListener("click", () => {
    fieldset.remove();
    numberPallets();
  });
  palletList.append(fieldset);
  numberPallets();
  updatePallet(fieldset);
  return fieldset;
}

function numberPallets() {
  pallets().forEach((fs, index) => {
    fs.querySelector(".pallet-index").textContent = `${index + 1}`;
  });
}

// Show what the typed mark means, and warn before the server refuses a pass it cannot accept.
function updatePallet(fieldset) {
  const material = fieldset.querySelector("[name=material]").value;
  const markText = fieldset.querySelector("[name=mark_text]").value;
  const pests = fieldset.querySelector("[name=pests_found]").checked;
  const disposition = fieldset.querySelector("[name=disposition]").value;
  const wood = material === "wood";
  fieldset.querySelector(".mark-field").hidden = !wood;
  fieldset.querySelector(".pest-note-field").hidden = !pests;
  const hint = fieldset.querySelector(".mark-hint");
  const passes = disposition === "pass";
  const cannotPass = " 不能放行，请选熏蒸、销毁或退运。 It cannot pass: choose fumigate, destroy or return.";
  let kind = "info";
  let text;
  if (!wood) {
    text = "非木质包装，无需 IPPC 标识。 Not wood: no IPPC mark needed.";
  } else {
    const mark = markText.trim() ? ippcParse(markText) : null;
    if (mark && mark.ok) {
      kind = "ok";
      text = "✓ " + markMeaning(mark);
    } else {
      text = mark ? "✗ 标识无效 Not a valid mark: " + mark.problems.join("; ") + "."
        : "✗ 无 IPPC 标识 No IPPC mark.";
      kind = passes ? "bad" : "warn";
      text += passes ? cannotPass : ` → ${DISPOSITION_NAMES[disposition]}`;
    }
  }
  if (pests && passes) {
    kind = "bad";
    text += " 发现有害生物，不能放行。 Pests were found: the pallet cannot pass.";
  }
  hint.textContent = text;
  hint.className = "mark-hint hint-" + kind;
}

function checkRows() {
  return [...form.querySelectorAll("tr[data-line-no]")];
}

// The failed checks of every line, line_no -> {aspect: note}: only this page's rows are drawn.
const failures = new Map();
// The line of each check in the last body sent (its errors name a check by its index).
let sentCheckLines = [];

function saveRows() {
  for (const row of checkRows()) {
    const failed = {};
    for (const cell of row.querySelectorAll("td[data-aspect]")) {
      if (cell.querySelector(".verdict").getAttribute("aria-pressed") === "true") {
        failed[cell.dataset.aspect] = cell.querySelector(".fail-note").value;
      }
    }
    if (Object.keys(failed).length) failures.set(Number(row.dataset.lineNo), failed);
    else failures.delete(Number(row.dataset.lineNo));
  }
}

function showRows() {
  for (const row of checkRows()) {
    const failed = failures.get(Number(row.dataset.lineNo)) || {};
    for (const cell of row.querySelectorAll("td[data-aspect]")) {
      const note = setVerdict(cell.querySelector(".verdict"), cell.dataset.aspect in failed);
      note.value = failed[cell.dataset.aspect] || "";
    }
  }
}

// Another page of lines: its rows fetched and swapped in, what was set on this one kept.
async function turnPage(link) {
  saveRows();
  try {
    const response = await fetch(link.href, {
      credentials: "same-origin", headers: { Accept: "text/html" },
    });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
    const rows = fresh.querySelector("#inspection-form table.checks tbody");
    if (!rows) throw new Error("the form is no longer offered; reload the page");
    form.querySelector("table.checks tbody").replaceWith(document.importNode(rows, true));
    for (const id of ["checks-pager", "checks-pager-bottom"]) {
      const next = fresh.querySelector(`[data-testid=${id}]`);
      const old = form.querySelector(`[data-testid=${id}]`);
      if (next && old) old.replaceWith(document.importNode(next, true));
    }
    showRows();
    history.replaceState(null, "", link.href);
    form.querySelector("table.checks").scrollIntoView({ block: "start" });
  } catch (error) {
    flash(`这一页未能打开 The page could not be opened: ${error.message}`);
  }
}

function setVerdict(button, failed) {
  button.setAttribute("aria-pressed", failed ? "true" : "false");
  const cell = button.closest("td");
  cell.classList.toggle("failed", failed);
  const note = cell.querySelector(".fail-note");
  note.hidden = !failed;
  const label = button.getAttribute("aria-label").replace(/: .*$/, "");
  button.setAttribute("aria-label", `${label}: ${failed ? "不合格 fail" : "合格 pass"}`);
  return note;
}

function collectBody() {
  saveRows();
  const value = (name) => form.elements[name].value.trim();
  const body = {
    location: value("location"), ciq_officer: value("ciq_officer"),
    customs_officer: value("customs_officer"),
    pallets: pallets().map((fs) => {
      const material = fs.querySelector("[name=material]").value;
      const pests = fs.querySelector("[name=pests_found]").checked;
      return {
        pallet_no: fs.querySelector("[name=pallet_no]").value.trim(),
        material,
        mark_text: material === "wood" ? fs.querySelector("[name=mark_text]").value.trim() : "",
        pests_found: pests,
        pest_note: pests ? fs.querySelector("[name=pest_note]").value.trim() : "",
        disposition: fs.querySelector("[name=disposition]").value,
      };
    }),
    // Only the lines with a failed check: every other line passed (a manifest of 100,000
    // lines would otherwise be a body far over the JSON limit).
    checks: (sentCheckLines = LINE_NOS.filter((lineNo) => failures.has(lineNo))).map((lineNo) => {
      const failed = failures.get(lineNo);
      const check = { line_no: lineNo };
      for (const aspect of Object.keys(ASPECT_NAMES)) {
        check[aspect] = aspect in failed ? { result: "fail", note: failed[aspect].trim() }
          : { result: "pass" };
      }
      return check;
    }),
    other_lines: "pass",
  };
  const name = value("escort_name");
  const signature = formPad && !formPad.isEmpty() ? formPad.toDataURL() : null;
  // The escort may sign later; a name without a signature (or the reverse) is sent so the
  // server says what is missing.
  if (name || signature) body.escort = { name, signature };
  return body;
}

function clearFormErrors() {
  clearFieldErrors(form);
  const box = document.getElementById("form-errors");
  box.hidden = true;
  box.replaceChildren();
  for (const node of form.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
  for (const node of form.querySelectorAll(".invalid")) node.classList.remove("invalid");
  for (const list of form.querySelectorAll(".pallet-errors")) {
    list.hidden = true;
    list.replaceChildren();
  }
}

function markInvalid(node) {
  if (!node) return;
  node.setAttribute("aria-invalid", "true");
  node.classList.add("invalid");
}

// A refused submit: every problem next to the field it is about, in the box beside the submit
// button and in the flash; nothing typed (or drawn) is touched.
function showFormErrors(error) {
  const list = pallets();
  // The head's fields (location, officers, escort): the message under the field (api.js).
  const head = (error.errors || []).filter((e) => !Number.isInteger(e.pallet)
    && !Number.isInteger(e.check) && e.field !== "checks");
  showFieldErrors(form, { errors: head.map((e) => (
    e.field === "signature" ? { ...e, field: "escort.signature" } : e)) });
  if (error.errors) {
    for (const e of error.errors) {
      if (Number.isInteger(e.pallet) && list[e.pallet]) {
        const fs = list[e.pallet];
        const number = fs.querySelector("[name=pallet_no]").value.trim();
        e.pallet = number || `#${e.pallet + 1}`;
        markInvalid(fs);
        markInvalid(fs.querySelector(`[name="${e.field}"]`));
        const own = fs.querySelector(".pallet-errors");
        own.hidden = false;
        own.append(el("li", { text: (e.field ? e.field + ": " : "") +
          bilingual(e.message_zh, e.message) }));
      } else if (Number.isInteger(e.check) && sentCheckLines[e.check] !== undefined) {
        e.line_no = sentCheckLines[e.check]; // errors name a check by its place in the body
        delete e.check;
        const row = form.querySelector(`tr[data-line-no="${e.line_no}"]`);
        const aspect = (e.field || "").split(".")[0];
        const cell = row && row.querySelector(`td[data-aspect="${aspect}"]`);
        if (cell) markInvalid(cell.querySelector(e.field.endsWith(".note") ? ".fail-note" : ".verdict"));
      } else if (e.field === "escort.name") {
        markInvalid(form.elements.escort_name);
      } else if (e.field === "signature") {
        markInvalid(document.getElementById("form-pad"));
      } else if (e.field && form.elements[e.field] instanceof HTMLInputElement) {
        markInvalid(form.elements[e.field]);
      }
    }
  }
  flash(error);
  const box = document.getElementById("form-errors");
  box.hidden = false;
  box.replaceChildren(el("p", { text: bilingual(error.messageZh, error.message) }));
  const details = describeErrors(error);
  if (details.length) box.append(el("ul", {}, details.map((d) => el("li", { text: d }))));
  box.scrollIntoView({ block: "nearest" });
}

function fillForm(inspection) {
  form.elements.location.value = inspection.location || "";
  form.elements.ciq_officer.value = inspection.ciq_officer || "";
  form.elements.customs_officer.value = inspection.customs_officer || "";
  palletList.replaceChildren();
  for (const p of inspection.pallets) addPallet(p);
  failures.clear();
  for (const check of inspection.checks) {
    const failed = {};
    for (const aspect of Object.keys(ASPECT_NAMES)) {
      if (check[aspect] && check[aspect].result === "fail") failed[aspect] = check[aspect].note || "";
    }
    if (Object.keys(failed).length) failures.set(check.line_no, failed);
  }
  showRows();
}

function setUpForm() {
  document.getElementById("add-pallet").addEventListener("click", () => {
    addPallet().querySelector("[name=pallet_no]").focus();
  });
  // Delegated: a turned page brings new rows and page links.
  form.addEventListener("click", (event) => {
    const button = event.target.closest("button.verdict");
    const link = event.target.closest("nav.pager a[data-page]");
    if (button) {
      const failed = button.getAttribute("aria-pressed") !== "true";
      const note = setVerdict(button, failed);
      if (failed) note.focus();
    } else if (link) {
      event.preventDefault();
      turnPage(link);
    }
  });
  formPad = new SignaturePad(document.getElementById("form-pad"), {
    onChange: (pad) => document.getElementById("form-pad").closest(".pad-box")
      .classList.toggle("signed", !pad.isEmpty()),
  });
  document.getElementById("form-pad-clear").addEventListener("click", () => formPad.clear());
  if (PAGE.inspection) fillForm(PAGE.inspection);
  else addPallet();

  // Enter (or a phone keyboard's Go) moves to the next field: a half-filled inspection is never
  // recorded by accident, since every check defaults to pass.
  form.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || !(event.target instanceof HTMLInputElement)) return;
    if (event.target.type === "checkbox") return;
    event.preventDefault();
    const fields = [...form.querySelectorAll("input, select")]
      .filter((f) => !f.disabled && f.offsetParent !== null);
    const next = fields[fields.indexOf(event.target) + 1];
    if (next) next.focus();
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearFormErrors();
    clearFlash();
    const submit = form.querySelector("button[type=submit]");
    submit.disabled = true;
    try {
      const recorded = await api("POST", BASE, collectBody());
      formPad.clear();
      form.hidden = true;
      showRecorded(recorded);
      flash(recorded.result === "passed" ? "✓ 已记录，查验通过 Recorded: the inspection passed."
        : "已记录查验 The inspection is recorded.", "info");
    } catch (error) {
      showFormErrors(error);
    } finally {
      submit.disabled = false;
    }
  });

  document.getElementById("new-inspection").addEventListener("click", () => {
    form.hidden = false;
    document.getElementById("new-inspection-bar").hidden = true;
    form.scrollIntoView({ block: "start" });
  });
}

// --- the recorded inspection ------------------------------------------------------------------

let current = null;
let signPad = null;

function actionable(inspection) {
  return PAGE.editable && (inspection.result === "pending" || inspection.result === "failed");
}

function renderSummary(inspection) {
  const box = document.getElementById("recorded-summary");
  const parts = [
    el("div", { class: "result-line" },
      el("h2", {}, "查验记录 Inspection record ", el("small", { text: `#${inspection.id}` })),
      el("span", { class: `result result-${inspection.result}`, dataTestid: "result",
                   dataResult: inspection.result, text: RESULT_NAMES[inspection.result] ||
                   inspection.result })),
    el("p", { class: "muted" }, [
      when(inspection.created_at),
      inspection.location && ` · 地点 Location ${inspection.location}`,
      inspection.ciq_officer && ` · 检验检疫 CIQ ${inspection.ciq_officer}`,
      inspection.customs_officer && ` · 海关 Customs ${inspection.customs_officer}`,
    ]),
  ];
  if (inspection.unmet.length) {
    parts.push(el("div", { class: "unmet" },
      el("p", { text: "通过前尚需 The pass waits for:" }),
      el("ul", { class: "blocked", dataTestid: "unmet" },
        inspection.unmet.map((u) => el("li", {
          text: (UNMET_PREFIX[u.condition] || "") + u.message })))));
    if (inspection.result === "failed" && PAGE.editable) {
      parts.push(el("p", { class: "muted", text: "不合格项须重新查验。 A failed check is " +
        "cleared by recording a new inspection (button below)." }));
    }
  } else if (inspection.result === "passed") {
    parts.push(el("p", { class: "ok passed-note", dataTestid: "passed",
                         text: "✓ 查验通过 The consignment passed inspection." }));
  }
  box.replaceChildren(...parts);
}

function renderPallets(inspection) {
  const box = document.getElementById("recorded-pallets");
  const notes = {};
  for (const input of box.querySelectorAll("input[data-task]")) notes[input.dataset.task] = input.value;
  const cards = inspection.pallets.map((p) => {
    let mark = null;
    if (p.material === "wood") {
      mark = el("div", { class: "mark" },
        el("span", { class: "label", text: "IPPC 标识 Mark " }),
        el("code", { text: p.mark_text || "—" }),
        p.mark ? el("p", { class: "hint-ok", text: "✓ " + markMeaning(p.mark) }) : null,
        p.mark_problems.length ? el("p", { class: "hint-bad",
                                           text: "✗ " + p.mark_problems.join("; ") }) : null);
    }
    let task = null;
    if (p.task) {
      const kind = DISPOSITION_NAMES[p.task.kind] || p.task.kind;
      if (p.task.done_at) {
        task = el("p", { class: "task done", dataTestid: "task-status" },
          `✓ ${kind} 已完成 done ${when(p.task.done_at)}`,
          p.task.done_by ? ` · ${p.task.done_by}` : "", p.task.note ? ` · ${p.task.note}` : "");
      } else if (actionable(inspection)) {
        const input = el("input", { dataTask: p.task.id, maxlength: 500, autocomplete: "off",
                                    placeholder: "说明 Note, e.g. 熏蒸证书号 certificate no." });
        input.value = notes[p.task.id] || "";
        const button = el("button", { type: "button", class: "primary", dataTestid: "task-done",
                                      text: `${kind} 已完成 Done` });
        button.addEventListener("click", () => taskDone(p.task.id, input, button));
        task = el("div", { class: "task open", dataTestid: "task" },
          el("p", { class: "task-title", text: `待办 To do: ${kind}` }),
          el("div", { class: "row task-row" },
            el("label", {}, "处置说明 Note ", input), button));
      } else {
        task = el("p", { class: "task open", dataTestid: "task-status",
                         text: `${kind} 未完成 not done` });
      }
    }
    return el("div", { class: "pallet-record", dataTestid: "pallet-record" },
      el("h4", {}, el("span", { text: p.pallet_no }), " ",
        el("small", { text: MATERIAL_NAMES[p.material] || p.material }), " ",
        el("span", { class: `disposition disposition-${p.disposition}`,
                     text: DISPOSITION_NAMES[p.disposition] || p.disposition })),
      mark,
      p.pests_found ? el("p", { class: "hint-bad",
                                text: "发现有害生物 Pests found" + (p.pest_note ? `: ${p.pest_note}` : "") })
        : null,
      task);
  });
  box.replaceChildren(el("h3", { text: "托盘 Pallets" }),
    cards.length ? el("div", { class: "pallet-records" }, cards)
      : el("p", { class: "muted", text: "无托盘 No pallets recorded." }));
}

// The lines with a failed check (the page has only those; a line not listed passed).
function renderChecks(inspection) {
  const aspects = Object.keys(ASPECT_NAMES);
  const failing = (c) => aspects.filter((a) => c[a] && c[a].result === "fail").length;
  const lines = inspection.checks.filter(failing);
  const failed = lines.reduce((n, c) => n + failing(c), 0);
  const list = el("ul", { class: "checks-record", dataTestid: "checks-record" },
    lines.map((c) => el("li", {},
      el("span", { class: "line-name" }, `${c.line_no} · ${c.name}`, " ",
        el("small", { class: "muted", text: c.sku })),
      el("span", { class: "chips" }, aspects.map((a) => {
        const v = c[a] || {};
        const fail = v.result === "fail";
        return el("span", { class: `chip ${fail ? "fail" : "pass"}` },
          `${fail ? "✗" : "✓"} ${ASPECT_NAMES[a]}`, v.note ? `: ${v.note}` : "");
      })))));
  const passed = LINE_NOS.length - lines.length;
  document.getElementById("recorded-checks").replaceChildren(
    el("h3", {}, "海关查验 Customs checks ",
      el("small", { dataTestid: "checks-summary", text: failed
        ? `${failed} 项不合格 failed in ${lines.length} line(s); 其余 ${passed} 行合格 the other ${passed} passed`
        : `全部合格 all ${passed} lines passed` })),
    list);
}

function renderEscort(inspection) {
  const box = document.getElementById("recorded-escort");
  const parts = [el("h3", { text: "押运人 Escort" })];
  if (inspection.escort.signed) {
    parts.push(el("p", { dataTestid: "escort-signed" },
      `✓ ${inspection.escort.name} 已签字 signed ${when(inspection.escort.signed_at)}`));
    parts.push(el("img", { class: "signature-image", alt: `${inspection.escort.name} 签名 signature`,
      src: `${BASE}/${inspection.id}/signature.png?at=${encodeURIComponent(inspection.escort.signed_at)}` }));
  } else {
    parts.push(el("p", { class: "hint-bad", text: "尚未签字 The escort has not signed yet." }));
  }
  box.replaceChildren(...parts);
  const section = document.getElementById("sign-section");
  if (section) {
    section.hidden = inspection.escort.signed || !actionable(inspection);
    if (!section.hidden && !signPad) {
      signPad = new SignaturePad(document.getElementById("sign-pad"), {
        onChange: (pad) => section.querySelector(".pad-box").classList.toggle("signed", !pad.isEmpty()),
      });
      document.getElementById("sign-clear").addEventListener("click", () => signPad.clear());
      document.getElementById("sign-submit").addEventListener("click", signNow);
    }
  }
}

function renderLinks(inspection) {
  document.getElementById("recorded-links").replaceChildren(
    el("a", { class: "button", href: `${BASE}/${inspection.id}/record.pdf`, target: "_blank",
              rel: "noopener", dataTestid: "record-pdf", text: "查验记录单 Record sheet (PDF)" }),
    el("a", { class: "button", href: `/manifests/${PAGE.manifest_id}`,
              text: "返回货物 Back to the consignment" }));
}

function showRecorded(inspection) {
  current = inspection;
  if (inspection.result === "passed") {
    PAGE.editable = false;
    const status = document.querySelector("[data-testid=status]");
    if (status && status.classList.contains("status-arrived")) {
      status.className = "status status-inspected";
      status.textContent = "已查验 Inspected";
    }
  }
  renderSummary(inspection);
  renderPallets(inspection);
  renderChecks(inspection);
  renderEscort(inspection);
  renderLinks(inspection);
  const recorded = document.getElementById("recorded");
  recorded.hidden = false;
  const bar = document.getElementById("new-inspection-bar");
  if (bar) bar.hidden = !actionable(inspection) || (form && !form.hidden);
  if (form && !PAGE.editable) form.hidden = true;
}

async function taskDone(taskId, input, button) {
  clearFlash();
  button.disabled = true;
  try {
    const inspection = await api("POST", `${BASE}/${current.id}/tasks/${taskId}/done`,
                                 { note: input.value.trim() });
    showRecorded(inspection);
    flash(inspection.result === "passed" ? "✓ 查验通过 The inspection passed."
      : "已记录完成 Recorded as done.", "info");
  } catch (error) {
    button.disabled = false;
    flash(error);
  }
}

async function signNow() {
  clearFlash();
  const button = document.getElementById("sign-submit");
  const name = document.getElementById("sign-name");
  button.disabled = true;
  name.removeAttribute("aria-invalid");
  try {
    const inspection = await api("POST", `${BASE}/${current.id}/signature`, {
      name: name.value.trim(), signature: signPad.isEmpty() ? null : signPad.toDataURL() });
    signPad.clear();
    showRecorded(inspection);
    flash(inspection.result === "passed" ? "✓ 已签字，查验通过 Signed: the inspection passed."
      : "已签字 Signed.", "info");
  } catch (error) {
    showError(error, document.getElementById("sign-section"));  // the name's message under it
  } finally {
    button.disabled = false;
  }
}

if (form) setUpForm();
if (PAGE.inspection) showRecorded(PAGE.inspection);
