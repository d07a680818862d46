// The labels page (标签): issue labels per line and box, preview, download PDF / ZPL, send to the
// network printer, reprint a label as a copy. Everything goes through the JSON API (api.js).
"use strict";

const PREVIEW_COUNT = 4;
const ROOT = document.getElementById("labels-page");
const MANIFEST_ID = ROOT ? ROOT.dataset.manifest : "";
const REPRINT = document.getElementById("reprint-card");
const PRINTER = REPRINT.dataset.printer;

function $(id) {
  return document.getElementById(id);
}

function setBusy(button, busy) {
  button.disabled = busy;
  button.setAttribute("aria-busy", busy ? "true" : "false");
}

function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== "" && value !== null && value !== undefined) search.set(key, value);
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

// A download through fetch: an error answer shows as a message instead of a saved JSON file.
async function download(url, fallbackName) {
  const response = await fetch(url, { credentials: "same-origin" });
  if (!response.ok) {
    let body = null;
    try {
      body = await response.json();
    } catch (_) {
      body = null;
    }
    throw new ApiError(response.status, body);
  }
  const blob = await response.blob();
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = downloadName(response.headers.get("Content-Disposition") || "", fallbackName);
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
}

// The real name (RFC 6266 filename*, UTF-8) when given, else the ASCII one.
function downloadName(disposition, fallbackName) {
  const encoded = disposition.match(/filename\*=UTF-8''([^;]+)/i);
  if (encoded) {
    try {
      return decodeURIComponent(encoded[1]);
    } catch (_) {
      // a malformed encoding: fall through to the plain name
    }
  }
  const plain = disposition.match(/filename="([^"]+)"/);
  return plain ? plain[1] : fallbackName;
}

// --- choosing the consignment ----------------------------------------------------------------

const chooser = $("choose-manifest");
chooser.addEventListener("change", () => {
  if (chooser.value) chooser.form.submit();
});

// --- issuing ---------------------------------------------------------------------------------

function lineRow(lineNo) {
  return document.querySelector(`tr[data-line="${lineNo}"]`);
}

function remaining(lineNo) {
  const row = lineRow(lineNo);
  if (!row) return 0;
  return Math.max(Number(row.dataset.declared) - Number(row.dataset.issued), 0);
}

const issueForm = $("issue");
if (issueForm) {
  const line = $("issue-line");
  const count = $("issue-count");
  let countTyped = false; // the default follows the line until the operator types a count

  const fillCount = () => {
    const left = remaining(line.value);
    count.value = left > 0 ? String(left) : "";
    count.placeholder = left > 0 ? "" : "已发足 All issued";
  };
  count.addEventListener("input", () => {
    countTyped = true;
  });
  line.addEventListener("change", () => {
    if (!countTyped) fillCount();
  });
  fillCount();

  for (const button of document.querySelectorAll("button.pick")) {
    button.addEventListener("click", () => {
      line.value = button.dataset.line;
      countTyped = false;
      fillCount();
      $("issue-card").scrollIntoView({ block: "nearest" });
      count.focus();
    });
  }

  issueForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearFlash();
    clearFieldErrors(issueForm);
    const submit = $("issue-submit");
    const box = $("issue-box").value.trim();
    const body = {
      line_no: Number(line.value),
      count: count.value.trim() === "" ? null : Number(count.value),
      box_no: box || null,
    };
    setBusy(submit, true);
    try {
      const answer = await api("POST", `/api/manifests/${MANIFEST_ID}/labels`, body);
      const issued = answer.labels;
      const row = lineRow(body.line_no);
      row.dataset.issued = String(Number(row.dataset.issued) + issued.length);
      const cell = row.querySelector(".issued");
      cell.textContent = row.dataset.issued;
      cell.classList.toggle("done", Number(row.dataset.issued) >= Number(row.dataset.declared));
      const total = $("issued-total");
      total.textContent = String(Number(total.textContent) + issued.length);
      if (box && !document.querySelector(`#boxes option[value="${CSS.escape(box)}"]`)) {
        const option = document.createElement("option");
        option.value = box;
        $("boxes").append(option);
      }
      flash(
        `已发放 Issued ${issued.length} label(s) for line ${body.line_no}` +
          (box ? `, box ${box}` : "") +
          `: ${issued[0].code}` +
          (issued.length > 1 ? ` … ${issued[issued.length - 1].code}` : ""),
        "info",
      );
      // Point the print section at what was just issued: its preview and downloads.
      $("print-line").value = String(body.line_no);
      $("print-box").value = box;
      countTyped = false;
      fillCount();
      await Promise.all([refreshSelection(), refreshBoxes()]);
    } catch (error) {
      showError(error, issueForm);  // e.g. the allowance under the count (api.js)
    } finally {
      setBusy(submit, false);
    }
  });
}

// --- printing and downloading ----------------------------------------------------------------

function printChoice() {
  return {
    line_no: $("print-line").value,
    box_no: $("print-box").value.trim(),
    size: $("print-size").value,
    sheet: $("print-sheet").value,
    dpi: $("print-dpi").value,
  };
}

function downloadUrl(kind) {
  const c = printChoice();
  const base = `/api/manifests/${MANIFEST_ID}/labels.${kind}`;
  if (kind === "zpl") {
    return base + query({ line_no: c.line_no, box_no: c.box_no, size: c.size, dpi: c.dpi });
  }
  return base + query({ line_no: c.line_no, box_no: c.box_no, size: c.size, sheet: c.sheet, dpi: c.dpi });
}

let selectionRequest = 0;

// The labels the downloads would hold: their number and the first few as images.
async function refreshSelection() {
  if (!ROOT) return;
  const c = printChoice();
  $("download-pdf").href = downloadUrl("pdf");
  $("download-zpl").href = downloadUrl("zpl");
  const ticket = ++selectionRequest;
  let labels;
  try {
    const answer = await api("GET", `/api/manifests/${MANIFEST_ID}/labels` +
      query({ line_no: c.line_no, box_no: c.box_no }));
    labels = answer.labels;
  } catch (error) {
    if (ticket === selectionRequest) flash(error);
    return;
  }
  if (ticket !== selectionRequest) return; // a later change already asked again
  const where = [c.line_no ? `行 line ${c.line_no}` : "全部行 all lines",
    c.box_no ? `箱 box ${c.box_no}` : "全部箱 all boxes"].join(" · ");
  // The PDF, ZPL and print job put each box's label before its units' labels.
  const boxCount = new Set(labels.filter((l) => l.box_no).map((l) => l.box_no)).size;
  const boxText = boxCount ? ` + ${boxCount} 张箱标签 box label(s)` : "";
  $("selection").textContent = labels.length
    ? `${labels.length} 张标签 label(s)${boxText} selected (${where})`
    : `没有已发放的标签 No issued labels match (${where}): issue labels first.`;
  const preview = $("preview");
  preview.replaceChildren();
  for (const label of labels.slice(0, PREVIEW_COUNT)) {
    const figure = document.createElement("figure");
    const image = document.createElement("img");
    image.src = `/api/labels/${encodeURIComponent(label.code)}.png` +
      query({ size: c.size, dpi: c.dpi });
    image.alt = `标签 Label ${label.code}`;
    image.dataset.code = label.code;
    const caption = document.createElement("figcaption");
    caption.textContent = `${label.code} · 行 line ${label.line_no}` +
      (label.box_no ? ` · ${label.box_no}` : "");
    figure.append(image, caption);
    preview.append(figure);
  }
  if (labels.length > PREVIEW_COUNT) {
    const more = document.createElement("p");
    more.className = "muted";
    more.textContent = `… 另有 ${labels.length - PREVIEW_COUNT} 张 and ${labels.length - PREVIEW_COUNT} more`;
    preview.append(more);
  }
  for (const id of ["download-pdf", "download-zpl"]) {
    $(id).classList.toggle("disabled", !labels.length);
    $(id).setAttribute("aria-disabled", String(!labels.length)); // said, not only shown
  }
}

// --- box labels --------------------------------------------------------------------------------

let boxesShown = [];

function boxLabelUrl(code, kind) {
  const c = printChoice();
  const base = `/api/boxes/${encodeURIComponent(code)}.${kind}`;
  if (kind === "pdf") return base + query({ size: c.size, sheet: c.sheet, dpi: c.dpi });
  return base + query({ size: c.size, dpi: c.dpi });
}

function boxButtons(box) {
  const cell = document.createElement("td");
  cell.className = "actions";
  const hidden = (text) => {
    const span = document.createElement("span");
    span.className = "visually-hidden";
    span.textContent = text;
    return span;
  };
  // The PDF opens in the browser's viewer, whose print button prints it on this computer.
  const pdf = document.createElement("a");
  pdf.className = "button box-print";
  pdf.href = boxLabelUrl(box.code, "pdf");
  pdf.target = "_blank";
  pdf.rel = "noopener";
  pdf.dataset.code = box.code;
  pdf.append("打印 Print PDF", hidden(` 箱 box ${box.box_no}`));
  const zpl = document.createElement("a");
  zpl.className = "button box-zpl";
  zpl.href = boxLabelUrl(box.code, "zpl");
  zpl.download = `box-${box.code}.zpl`;
  zpl.append("ZPL", hidden(` 箱 box ${box.box_no}`));
  cell.append(pdf, " ", zpl);
  if (PRINTER) {
    const send = document.createElement("button");
    send.type = "button";
    send.className = "box-send";
    send.append("发送到打印机 Send to printer", hidden(` 箱 box ${box.box_no}`));
    send.addEventListener("click", async () => {
      clearFlash();
      const c = printChoice();
      setBusy(send, true);
      try {
        const answer = await api("POST", `/api/boxes/${encodeURIComponent(box.code)}/print`,
          { dpi: Number(c.dpi), size: c.size });
        flash(`已发送 Sent the label of box ${box.box_no} to the printer ${answer.printer}`, "info");
      } catch (error) {
        flash(error);
      } finally {
        setBusy(send, false);
      }
    });
    cell.append(" ", send);
  }
  return cell;
}

function showBoxes() {
  const body = $("boxes-body");
  body.replaceChildren();
  for (const box of boxesShown) {
    const row = document.createElement("tr");
    row.dataset.box = box.box_no;
    row.dataset.testid = "box-row";
    // The box number, and under it the code its label carries.
    const number = document.createElement("td");
    const name = document.createElement("span");
    name.className = "box-no";
    name.textContent = box.box_no;
    const code = document.createElement("code");
    code.textContent = box.code;
    number.append(name, document.createElement("br"), code);
    const count = document.createElement("td");
    count.className = "num";
    count.textContent = String(box.labels);
    row.append(number, count, boxButtons(box));
    body.append(row);
  }
  body.closest("table").hidden = !boxesShown.length;
  $("no-boxes").hidden = Boolean(boxesShown.length);
}

async function refreshBoxes() {
  if (!ROOT) return;
  try {
    boxesShown = (await api("GET", `/api/manifests/${MANIFEST_ID}/boxes`)).boxes;
  } catch (error) {
    flash(error);
    return;
  }
  showBoxes();
}

if (ROOT) {
  for (const id of ["print-line", "print-size", "print-sheet", "print-dpi"]) {
    $(id).addEventListener("change", refreshSelection);
  }
  for (const id of ["print-size", "print-sheet", "print-dpi"]) {
    $(id).addEventListener("change", showBoxes); // the box labels' links follow the choice
  }
  let boxTimer = null;
  $("print-box").addEventListener("input", () => {
    clearTimeout(boxTimer);
    boxTimer = setTimeout(refreshSelection, 300);
  });
  $("print-box").addEventListener("change", refreshSelection);

  for (const link of document.querySelectorAll("a.download")) {
    link.addEventListener("click", async (event) => {
      event.preventDefault();
      clearFlash();
      const kind = link.dataset.kind;
      link.setAttribute("aria-busy", "true");
      try {
        await download(downloadUrl(kind), `labels-${MANIFEST_ID}.${kind}`);
      } catch (error) {
        flash(error);
      } finally {
        link.removeAttribute("aria-busy");
      }
    });
  }

  const send = $("send-printer");
  send.addEventListener("click", async () => {
    clearFlash();
    const c = printChoice();
    if (c.sheet) {
      flash("A4 标签纸请下载 PDF 打印 An A4 sheet prints from the PDF; the network printer takes a label roll.");
      return;
    }
    const body = { dpi: Number(c.dpi), size: c.size };
    if (c.line_no) body.line_no = Number(c.line_no);
    if (c.box_no) body.box_no = c.box_no;
    setBusy(send, true);
    try {
      const answer = await api("POST", `/api/manifests/${MANIFEST_ID}/labels/print`, body);
      flash(`已发送 Sent ${answer.sent} label(s) to the printer ${answer.printer}`, "info");
    } catch (error) {
      showError(error, $("print"));
    } finally {
      setBusy(send, false);
    }
  });

  refreshSelection();
  refreshBoxes();
}

// --- reprint -----------------------------------------------------------------------------------

function linkButton(text, href, name) {
  const link = document.createElement("a");
  link.className = "button";
  link.textContent = text;
  link.href = href;
  link.download = name;
  return link;
}

function showReprint(answer) {
  const box = $("reprint-result");
  box.replaceChildren();
  const c = ROOT ? printChoice() : { size: "50x30", dpi: "203" };
  const sizeQuery = `&size=${encodeURIComponent(c.size)}`;
  const title = document.createElement("p");
  title.className = "ok";
  title.textContent = `副本 Copy ${answer.copy_no} of ${answer.code}`;
  const image = document.createElement("img");
  image.src = `${answer.png}${sizeQuery}&dpi=${c.dpi}`;
  image.alt = `副本 Copy ${answer.copy_no} of ${answer.code}`;
  image.dataset.testid = "reprint-image";
  const links = document.createElement("div");
  links.className = "links";
  const pdf = `/api/labels/${encodeURIComponent(answer.code)}.pdf?copy=${answer.copy_no}${sizeQuery}`;
  links.append(
    linkButton("副本 PDF", pdf, `label-${answer.code}-copy${answer.copy_no}.pdf`),
    linkButton("副本 ZPL", `${answer.zpl}${sizeQuery}&dpi=${c.dpi}`,
      `label-${answer.code}-copy${answer.copy_no}.zpl`),
  );
  if (PRINTER && REPRINT.dataset.manifest) {
    const send = document.createElement("button");
    send.type = "button";
    send.textContent = "发送到打印机 Send to printer";
    send.addEventListener("click", async () => {
      clearFlash();
      setBusy(send, true);
      try {
        const sent = await api("POST", `/api/manifests/${REPRINT.dataset.manifest}/labels/print`, {
          codes: [answer.code], copy: answer.copy_no, dpi: Number(c.dpi), size: c.size,
        });
        flash(`已发送 Sent copy ${answer.copy_no} of ${answer.code} to ${sent.printer}`, "info");
      } catch (error) {
        flash(error);
      } finally {
        setBusy(send, false);
      }
    });
    links.append(send);
  }
  box.append(title, image, links);
  box.hidden = false;
}

$("reprint").addEventListener("submit", async (event) => {
  event.preventDefault();
  clearFlash();
  clearFieldErrors($("reprint"));
  const codeInput = $("reprint-code");
  const reasonInput = $("reprint-reason");
  const code = codeInput.value.trim().toUpperCase();
  const reason = reasonInput.value.trim();
  if (!code) {
    flash("请扫描或输入单件码 Scan or type the unit code of the label to reprint.");
    codeInput.focus();
    return;
  }
  if (!reason) {
    // A scanner's Enter lands here first: the reason is the next thing to give.
    flash("请填写补打原因 Give the reason for the reprint (it is kept in the audit log).");
    reasonInput.focus();
    return;
  }
  const submit = $("reprint-submit");
  setBusy(submit, true);
  try {
    const answer = await api("POST", `/api/labels/${encodeURIComponent(code)}/reprint`, { reason });
    showReprint(answer);
    flash(`已补打 Reprinted ${code} as copy ${answer.copy_no}`, "info");
    codeInput.value = "";
    codeInput.focus();
  } catch (error) {
    showError(error, $("reprint"));
  } finally {
    setBusy(submit, false);
  }
});
