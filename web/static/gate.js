// The gate page (卡口): vehicle-order association with the total weight worked out live (the
// release order is declared to customs with its truck), the gate pass with a big PASS / REFUSE
// and every reason, and the gate log.
"use strict";

const GATE = JSON.parse(document.getElementById("gate-page").textContent);
const WEIGHTS = ["tare_wt", "frame_wt", "container_wt"];
const DIRECTIONS = { I: "I 进区", E: "E 出区" };

let waitingForTruck = [];  // created release orders with their goods' gross weight
let latestLogId = null;

function node(tag, attributes, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") element.className = value;
    else if (key === "text") element.textContent = value;
    else element.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

// Weights in kg as the server keeps them (5 decimals), shown without trailing zeros.
function kg(value) {
  if (value === null || value === undefined || value === "") return "—";
  const number = Number(value);
  if (!Number.isFinite(number)) return String(value);
  return String(Math.round(number * 1e5) / 1e5);
}

function signedKg(value) {
  if (value === null || value === undefined || value === "") return "—";
  const text = kg(value);
  return Number(value) > 0 ? "+" + text : text;
}

function when(iso) {
  return formatTime(iso, { seconds: true });  // in the warehouse's zone (api.js)
}

// A typed weight: null when empty, NaN when it is not a number.
function weight(input) {
  const text = input.value.trim().replace(/,/g, "");
  if (!text) return null;
  return /^\d+(\.\d+)?$/.test(text) ? Number(text) : NaN;
}

// --- vehicle-order association ----------------------------------------------------------------

const bindForm = document.getElementById("bind-form");

async function loadOrders() {
  const { release_orders: orders } = await api("GET", "/api/release-orders");
  const details = await Promise.all(orders.filter((o) => o.status === "created")
    .map((o) => api("GET", `/api/release-orders/${encodeURIComponent(o.etps_preent_no)}`)));
  waitingForTruck = details;
  // Associated and declared; customs approved it (SAS221): the truck may come to the gate.
  renderWaiting(orders.filter((o) => o.status === "approved"));
  if (!bindForm) return;
  const select = bindForm.elements.release_order;
  const chosen = select.value;
  select.replaceChildren(node("option", { value: "" },
    waitingForTruck.length ? "— 选择核放单 Choose a release order —"
      : "无待关联车辆的核放单 None waits for a truck"));
  for (const order of waitingForTruck) {
    const manifests = [...new Set(order.lines.map((l) => l.manifest_no))].join(", ");
    select.append(node("option", { value: order.etps_preent_no },
      `${order.passport_no || order.etps_preent_no} · ${manifests} · ` +
      `货物 goods ${kg(order.total_gross_wt)} kg`));
  }
  if (waitingForTruck.some((o) => o.etps_preent_no === chosen)) select.value = chosen;
  showOrder();
}

function selectedOrder() {
  const value = bindForm.elements.release_order.value;
  return waitingForTruck.find((o) => o.etps_preent_no === value) || null;
}

function showOrder() {
  const order = selectedOrder();
  const box = document.getElementById("order-details");
  box.hidden = !order;
  if (order) {
    const units = order.lines.reduce((n, l) => n + l.qty, 0);
    box.replaceChildren(
      `本企业编号 ${order.etps_preent_no} · `,
      `${order.bind_type} · ${order.lines.length} 行 lines, ${units} 件 units · `,
      `货物毛重 goods gross ${kg(order.total_gross_wt)} kg`);
  }
  updateTotal();
}

// totalWt = tare + frame + container + the goods' gross weight (SAS121, docs/customs.md).
function updateTotal() {
  const order = selectedOrder();
  const box = bindForm.querySelector(".live-total");
  const parts = WEIGHTS.map((name) => weight(bindForm.elements[name]));
  const goods = order ? Number(order.total_gross_wt || 0) : null;
  const names = ["自重 tare", "车架 frame", "箱 container", "货物 goods"];
  const terms = [...parts, goods].map((v, i) => `${names[i]} ${v === null ? "—" : Number.isNaN(v) ? "?" : kg(v)}`);
  box.querySelector(".formula").textContent = terms.join(" + ") + " =";
  let value;
  if (parts.some((v) => Number.isNaN(v))) value = "重量须为数字 a weight must be a number";
  else if (!order) value = "先选核放单 choose a release order";
  else value = `${kg(Math.round((parts.reduce((a, v) => a + (v || 0), 0) + goods) * 1e5) / 1e5)} kg`;
  box.querySelector(".value").textContent = value;
  box.classList.toggle("incomplete", !order || parts[0] === null || parts[1] === null);
}

function clearInvalid(form) {
  clearFieldErrors(form);
  for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
}

function setUpBinding() {
  bindForm.elements.release_order.addEventListener("change", showOrder);
  bindForm.addEventListener("input", updateTotal);
  document.getElementById("refresh-orders").addEventListener("click", () =>
    loadOrders().catch((error) => flash(error)));
  bindForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearFlash();
    clearInvalid(bindForm);
    const result = document.getElementById("bind-result");
    const order = selectedOrder();
    if (!order) {
      bindForm.elements.release_order.setAttribute("aria-invalid", "true");
      flash("请选择核放单 Choose the release order the truck carries.");
      return;
    }
    const body = {};
    for (const name of ["plate", "ic_card", "container_no", "driver"]) {
      body[name] = bindForm.elements[name].value.trim();
    }
    for (const name of [...WEIGHTS, "mileage_km"]) {
      const text = bindForm.elements[name].value.trim().replace(/,/g, "");
      body[name] = text === "" ? null : text;
    }
    const button = bindForm.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const bound = await api("POST",
        `/api/release-orders/${encodeURIComponent(order.etps_preent_no)}/vehicle`, body);
      result.hidden = false;
      result.className = "bind-result ok";
      result.replaceChildren(
        node("strong", {}, `✓ 已关联 Associated: ${bound.vehicle_no} → ` +
          `${bound.passport_no || bound.etps_preent_no}`),
        node("span", { class: "server-total", "data-testid": "server-total" },
          `总重 Total weight (server): ${kg(bound.total_wt)} kg`));
      bindForm.reset();
      await loadOrders();
      flash("车单关联完成，核放单已申报 The vehicle is associated and the release order " +
        "declared; the truck may pass once customs approves it.", "info");
    } catch (error) {
      showError(error, bindForm);  // each field's message under it, the rest in the flash
    } finally {
      button.disabled = false;
      updateTotal();
    }
  });
}

function renderWaiting(bound) {
  const list = document.getElementById("waiting");
  list.replaceChildren(...(bound.length ? bound.map((o) => {
    const fill = node("button", { type: "button", class: "fill" }, "填入 Use");
    fill.addEventListener("click", () => {
      const form = document.getElementById("pass-form");
      if (!form) return;
      form.elements.plate.value = o.vehicle_no;
      form.elements.ic_card.value = "";
      form.elements.direction.value = o.io_typecd || "I";
      form.elements.weighbridge_kg.focus();
    });
    return node("li", {}, node("span", {},
      node("strong", { text: o.vehicle_no }), ` · ${o.passport_no || o.etps_preent_no} · `,
      `总重 total ${kg(o.total_wt)} kg`), fill);
  }) : [node("li", { class: "muted", text: "无 None" })]));
}

// --- the gate pass ----------------------------------------------------------------------------

function showDecision(decision) {
  const box = document.getElementById("gate-result");
  const pass = decision.outcome === "pass";
  box.hidden = false;
  box.className = `gate-result ${pass ? "pass" : "refuse"}`;
  box.dataset.outcome = decision.outcome;
  const facts = [
    decision.plate_or_card,
    decision.passport_no || decision.release_order
      ? `核放单 ${decision.passport_no || decision.release_order}` : null,
    `地磅 weighbridge ${kg(decision.weighbridge_wt)} kg`,
    decision.total_wt ? `总重 total ${kg(decision.total_wt)} kg` : null,
    decision.wt_error ? `差 error ${signedKg(decision.wt_error)} kg` : null,
  ].filter(Boolean);
  box.replaceChildren(
    node("div", { class: "verdict-word" }, pass ? "放行 PASS" : "拒绝 REFUSE"),
    node("p", { class: "facts" }, facts.join(" · ")),
    pass ? node("p", { class: "reasons" }, "道闸抬起 The barrier lifts; customs records the passage (SAS223 receipt).")
      : node("ul", { class: "reasons", "data-testid": "reasons" },
        decision.reasons.map((r, i) => node("li", {
          text: bilingual((decision.reasons_zh || [])[i], r) }))));
  box.scrollIntoView({ block: "nearest" });
}

function setUpPass() {
  const form = document.getElementById("pass-form");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearFlash();
    clearInvalid(form);
    const plate = form.elements.plate.value.trim();
    const card = form.elements.ic_card.value.trim();
    const body = { direction: form.elements.direction.value,
                   weighbridge_kg: form.elements.weighbridge_kg.value.trim().replace(/,/g, "") || null };
    if (plate) body.plate = plate;
    if (card) body.ic_card = card;
    const who = plate || `IC ${card}`;
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    document.getElementById("gate-result").hidden = true;
    try {
      const decision = await api("POST", "/api/gate/passes", body);
      showDecision({ ...decision, plate_or_card: who });
      form.reset();
    } catch (error) {
      if (error.status === 409 && error.body && error.body.outcome === "refuse") {
        showDecision({ ...error.body, plate_or_card: who });  // refused and logged: values stay
      } else {
        showError(error, form);
      }
    } finally {
      button.disabled = false;
    }
    await Promise.all([loadLog(), loadOrders()]).catch((error) => flash(error));
  });
}

// --- the gate log -----------------------------------------------------------------------------

async function loadLog() {
  const { passes } = await api("GET", "/api/gate/passes");
  const body = document.querySelector("[data-testid=gate-log] tbody");
  const newest = passes.length ? passes[0].id : null;
  body.replaceChildren(...(passes.length ? passes.map((p) => node("tr", {
    class: `outcome-${p.outcome}${latestLogId !== null && p.id > latestLogId ? " new" : ""}`,
    "data-outcome": p.outcome, "data-plate": p.plate || "" },
    node("td", { "data-label": "时间 When", text: when(p.created_at) }),
    node("td", { "data-label": "结果 Outcome" }, node("span", {
      class: `outcome ${p.outcome}`, text: p.outcome === "pass" ? "放行 Pass" : "拒绝 Refused" })),
    node("td", { "data-label": "车牌 / IC" }, [p.plate, p.ic_card && `IC ${p.ic_card}`]
      .filter(Boolean).join(" · ")),
    node("td", { "data-label": "方向 Dir.", class: "nowrap",
                 text: DIRECTIONS[p.io_typecd] || p.io_typecd }),
    node("td", { "data-label": "核放单 Release order", text: p.passport_no || p.etps_preent_no || "—" }),
    node("td", { class: "num", "data-label": "地磅 Weighbridge kg", text: kg(p.weighbridge_wt) }),
    node("td", { class: "num", "data-label": "总重 Total kg", text: kg(p.total_wt) }),
    node("td", { class: "num", "data-label": "差 Error kg", text: signedKg(p.wt_error) }),
    node("td", { "data-label": "原因 Reasons", class: "reasons" }, p.reasons.length
      ? node("ul", {}, p.reasons.map((r, i) => node("li", {
        text: bilingual((p.reasons_zh || [])[i], r) }))) : "—"),
  )) : [node("tr", {}, node("td", { colspan: 9, class: "muted", text: "尚无记录 Nothing yet." }))]));
  latestLogId = newest;
}

if (bindForm) setUpBinding();
if (document.getElementById("pass-form")) setUpPass();
document.getElementById("refresh-log").addEventListener("click", () =>
  loadLog().catch((error) => flash(error)));
Promise.all([loadOrders(), loadLog()]).catch((error) => flash(error));
