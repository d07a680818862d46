// The scan page's code look-ups: every read that is not a unit label is asked about first
// (GET /api/codes, which records nothing). A job barcode opens its consignment, a box label sets
// the box, a product's GTIN shows its lines (and prints a unit label for a unit that lost its
// own), a GS1 carton barcode becomes the current carton whose batch and expiry the next units
// take; anything else is sent as a scan, which the ledger records as unknown. Loaded before
// scan.js, which builds the page (S) and calls TallyScan.codes(S).
"use strict";

(() => {
  function createCodes(S) {
    const { state, els } = S;
    // Look-ups run one after another, and a unit scan waits for those before it: a unit read
    // just after its carton, or after a job barcode, is recorded with that carton, under that job.
    let chain = Promise.resolve();

    function settled() {
      return chain;
    }

    function lookUp(code, source) {
      S.clearPanel("looking", code);
      const run = chain.then(() => resolve(code, source));
      chain = run.catch(() => false);
      return run;
    }

    function newEntry(code, source, outcome, tone) {
      const entry = S.addRecent({ client_scan_id: S.newScanId(), code,
        manifest_id: state.manifestId }, source, "lookup");
      Object.assign(entry, { status: "done", outcome, tone, line: "", note: "", summary: "" });
      return entry;
    }

    function answer(entry) {
      state.shown = entry.id;
      S.announce(entry);
    }

    async function resolve(code, source) {
      const params = new URLSearchParams({ code });
      if (state.manifestId) params.set("manifest", String(state.manifestId));
      let found;
      try {
        found = await S.withTimeout(api("GET", `/api/codes?${params}`), S.POST_TIMEOUT_MS);
      } catch (err) {
        return refused(code, source, err);
      }
      S.setOnline(true);
      switch (found.kind) {
        case "job": return openJob(found, code, source);
        case "box": return setBox(found, code, source);
        case "product": return showProduct(found, code, source);
        case "carton": return takeCarton(found, code, source);
        default: // a unit (a code with spaces around it) or unknown: the ledger's to record
          return S.sendScan(found.kind === "unit" ? found.code : code, source);
      }
    }

    function refused(code, source, err) {
      if (err instanceof ApiError && err.status === 422 && S.looksLikeGs1(code)) {
        // A GS1-looking read that does not parse (a misread, a foreign layout): recorded as
        // the unknown code it is, with why.
        return S.sendScan(code, source, `无法读取外箱条码 The carton barcode cannot be read:`
          + ` ${S.errorMessage(err)}`);
      }
      const notFound = err instanceof ApiError && err.status === 404;
      const entry = newEntry(code, source, notFound ? "not_found" : "lookup_failed",
        notFound ? "bad" : (S.isRetryable(err) ? "bad" : "error"));
      if (S.isRetryable(err)) {
        S.setOnline(!(err instanceof TypeError));
        entry.note = `${S.errorMessage(err)}。未查询，未记录：联网后请重扫 Not looked up and`
          + " nothing recorded: scan it again once the network is back.";
      } else {
        entry.note = S.errorMessage(err);
        if (err instanceof ApiError && err.status === 401) S.problem(err);
      }
      entry.summary = entry.note;
      answer(entry);
      return false;
    }

    // A consignment that takes no scans now: what it is, where it stands, in both languages.
    function closedNote(manifest) {
      const status = S.statusInfo(manifest.status);
      return `舱单 ${manifest.manifest_no} 不可扫描 Consignment ${manifest.manifest_no} takes no`
        + ` scans: ${status.name}${status.text ? ` · ${status.text}` : ""}`;
    }

    // Choose the consignment as the select does; its box is the new consignment's to set.
    function switchTo(manifest) {
      if (!S.statusInfo(manifest.status).open) return false;
      S.ensureOption(manifest);
      els.manifest.value = String(manifest.id);
      els.box.value = "";
      S.applySettings();
      return true;
    }

    function openJob(found, code, source) {
      const manifest = found.manifest;
      const same = manifest.id === state.manifestId;
      if (!same && !switchTo(manifest)) {
        const entry = newEntry(code, source, "job_closed", "error");
        entry.line = manifest.manifest_no;
        entry.note = closedNote(manifest);
        entry.summary = entry.note;
        answer(entry);
        return false;
      }
      const entry = newEntry(code, source, "job", "info");
      entry.line = `舱单 Consignment ${manifest.manifest_no}`;
      entry.note = same ? "已是当前舱单 Already the consignment being tallied"
        : "扫描单件标签开始理货 Scan its unit labels to count them";
      entry.summary = manifest.manifest_no;
      answer(entry);
      return true;
    }

    function setBox(found, code, source) {
      const manifest = found.manifest;
      let switched = "";
      if (manifest.id !== state.manifestId) {
        if (!switchTo(manifest)) {
          const entry = newEntry(code, source, "job_closed", "error");
          entry.line = `箱 Box ${found.box_no} · ${manifest.manifest_no}`;
          entry.note = closedNote(manifest);
          entry.summary = entry.note;
          answer(entry);
          return false;
        }
        switched = `已切换到舱单 ${manifest.manifest_no} Switched to consignment`
          + ` ${manifest.manifest_no}, the box's`;
      }
      els.box.value = found.box_no;
      S.applySettings();
      const entry = newEntry(code, source, "box", switched ? "warn" : "info");
      entry.line = `箱 Box ${found.box_no}`;
      entry.note = [switched, `已发放 ${found.labels} 张标签 ${found.labels} label(s) issued`
        + " to this box"].filter(Boolean).join(" · ");
      entry.summary = `${found.box_no} · ${manifest.manifest_no}`;
      answer(entry);
      return true;
    }

    function notOnThis(entry) {
      if (!state.manifestId) {
        entry.note = "先选择舱单才能查看货物行 Choose a consignment to see its lines";
      } else {
        const no = S.manifestNo(state.manifestId);
        entry.note = `不在本舱单 ${no} 上 Not on this consignment (${no}): no line declares`
          + ` GTIN ${entry.gtin}`;
      }
    }

    function showProduct(found, code, source) {
      const absent = !found.lines.length;
      const entry = newEntry(code, source, absent ? "product_absent" : "product",
        absent ? "warn" : "info");
      Object.assign(entry, { gtin: found.gtin, lines: found.lines, printed: {} });
      entry.line = `GTIN ${found.gtin}`;
      if (absent) notOnThis(entry);
      else entry.note = "商品条码不计数：请扫描单件标签 A product barcode counts nothing: scan the"
        + " unit label (a unit that lost its label: print one below)";
      entry.summary = absent ? entry.note : found.lines.map((l) => `Line ${l.line_no}`).join(", ");
      answer(entry);
      return true;
    }

    function expiryText(carton) {
      if (!carton.expiry) return "无有效期 No expiry date";
      const days = carton.days_to_expiry;
      const when = carton.expired ? `已过期 ${-days} 天 expired ${-days} day(s) ago`
        : `还有 ${days} 天 ${days} day(s) left`;
      return `有效期 Expiry ${carton.expiry} (${when})`;
    }

    function cartonText(carton) {
      return [`GTIN ${carton.gtin}`, `批号 Batch ${carton.batch || "—"}`, expiryText(carton)]
        .join(" · ");
    }

    function takeCarton(found, code, source) {
      state.carton = { code, gtin: found.gtin, batch: found.batch, expiry: found.expiry,
        days_to_expiry: found.days_to_expiry, expiry_soon: found.expiry_soon,
        expired: found.expired };
      renderCarton();
      const absent = !found.lines.length;
      const tone = found.expired ? "bad" : (found.expiry_soon || absent ? "warn" : "info");
      const entry = newEntry(code, source, "carton", tone);
      Object.assign(entry, { gtin: found.gtin, lines: found.lines });
      entry.line = cartonText(found);
      const notes = [];
      if (found.expired) notes.push("外箱已过期 This carton is past its expiry date");
      else if (found.expiry_soon) notes.push("即将过期 Expires soon");
      if (absent) {
        notOnThis(entry);
        notes.push(entry.note);
      }
      notes.push("接下来扫描的单件记录此批号和有效期 The units scanned next take this batch and"
        + " expiry");
      entry.note = notes.join(" · ");
      entry.summary = `${found.batch || "—"} · ${found.expiry || "—"}`;
      answer(entry);
      return true;
    }

    // ---- the current carton: a bar above the answer, until cleared ----

    function renderCarton() {
      const carton = state.carton;
      els.carton.hidden = !carton;
      if (!carton) return;
      els.carton.className = "carton-bar " + (carton.expired ? "carton-expired"
        : carton.expiry_soon ? "carton-soon" : "carton-ok");
      els.carton.dataset.expiry = carton.expired ? "expired" : carton.expiry_soon ? "soon" : "ok";
      els.cartonText.textContent = `外箱 Carton · ${cartonText(carton)}`;
    }

    function clearCarton() {
      if (!state.carton) return;
      state.carton = null;
      renderCarton();
    }

    // ---- the lines of a product or carton, with a unit label to print for a product ----

    function renderExtra(entry, box) {
      if (!entry.lines || !entry.lines.length) return;
      const list = document.createElement("ul");
      list.className = "result-lines";
      for (const line of entry.lines) {
        const item = document.createElement("li");
        item.dataset.testid = "product-line";
        item.dataset.line = String(line.line_no);
        const text = document.createElement("span");
        text.className = "product-line-text";
        text.textContent = `第 ${line.line_no} 行 Line ${line.line_no} · ${line.sku} · ${line.name}`
          + (state.blind ? "" : ` · ${line.counted} / ${line.declared}`);
        item.append(text);
        if (entry.outcome === "product") item.append(printControls(entry, line));
        list.append(item);
      }
      box.append(list);
    }

    function printControls(entry, line) {
      const wrap = document.createElement("span");
      wrap.className = "print-unit";
      const done = entry.printed[line.line_no];
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.testid = "print-unit-label";
      button.textContent = "打印单件标签 Print a unit label";
      button.disabled = Boolean(done && done.busy);
      button.addEventListener("click", () => printUnitLabel(entry, line));
      wrap.append(button);
      if (done) {
        const said = document.createElement("span");
        said.className = "print-status" + (done.failed ? " print-failed" : "");
        said.dataset.testid = "print-status";
        said.textContent = done.text;
        if (done.pdf) {
          const link = document.createElement("a");
          link.href = done.pdf;
          link.target = "_blank";
          link.rel = "noopener";
          link.dataset.testid = "print-pdf";
          link.textContent = "标签 PDF Label PDF";
          said.append(" ", link);
        }
        wrap.append(said);
      }
      return wrap;
    }

    function redraw(entry) {
      if (state.shown === entry.id) S.show(entry, false);
    }

    // Issue one more label of the line (into the chosen box) and print it: on the site's label
    // printer, or as a PDF when none is configured (409).
    async function printUnitLabel(entry, line) {
      const manifestId = entry.manifestId;
      const body = { line_no: line.line_no, count: 1 };
      if (state.box && manifestId === state.manifestId) body.box_no = state.box;
      entry.printed[line.line_no] = { busy: true, text: "发放中 Issuing…" };
      redraw(entry);
      let code;
      try {
        const issued = await api("POST", `/api/manifests/${manifestId}/labels`, body);
        code = issued.labels[0].code;
      } catch (err) {
        entry.printed[line.line_no] = { failed: true,
          text: `未发放标签 No label issued: ${S.errorMessage(err)}` };
        redraw(entry);
        S.sound("error");
        return;
      }
      const pdf = `/api/labels/${encodeURIComponent(code)}.pdf`;
      let done;
      try {
        const sent = await api("POST", `/api/manifests/${manifestId}/labels/print`,
          { codes: [code] });
        done = { code, text: `已发送到打印机 ${code} sent to the printer ${sent.printer}`, pdf };
      } catch (err) {
        if (err instanceof ApiError && err.status === 409) {
          window.open(pdf, "_blank", "noopener");
          done = { code, text: `没有标签打印机，请打印 PDF No label printer: print ${code} from`
            + " its PDF", pdf };
        } else {
          done = { code, failed: true, pdf,
            text: `${code} 已发放但未打印 issued, not printed: ${S.errorMessage(err)}` };
        }
      }
      entry.printed[line.line_no] = done;
      redraw(entry);
      S.sound(done.failed ? "error" : "ok");
    }

    function start() {
      els.cartonClear.addEventListener("click", clearCarton);
      renderCarton();
    }

    return { lookUp, settled, clearCarton, renderExtra, start };
  }

  (window.TallyScan = window.TallyScan || {}).codes = createCodes;
})();
