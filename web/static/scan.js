// The handheld scanner page: keyboard-wedge, typed and camera scans of unit labels, each answered
// at once in large type with a colour, a beep and a vibration; other codes (job and box labels,
// products, cartons) are looked up first (scan-codes.js). Scans that cannot be sent wait in
// IndexedDB (scan-queue.js); the wedge is scan-wedge.js, the camera scan-camera.js. This file
// holds the page: settings, progress, the result panel, sending; it is loaded last and starts it.
"use strict";

(() => {
  const POST_TIMEOUT_MS = 10000; // a scan with no answer by then waits in the queue
  const RECENT_MAX = 10;
  const GS = "\x1d"; // GS1 group separator, kept inside the code
  const UNIT_CODE = /^U\d{12}$/; // a unit label as read by a camera
  const UNIT_INPUT = /^\s*U\d{12}\s*$/i; // as scanned or typed: sent as a scan, never looked up
  const GS1_START = ["]d2", "]C1", "]Q3", "]e0", "]J1"];
  const STORE_KEY = "tally.scan";
  const DEVICE_KEY = "tally.scan.device";

  // Outcome -> tone (colour, sound, vibration) and the bilingual word shown in large type. A
  // scan's tone may differ from its outcome's (toneOf): a unit counted from another box is amber.
  const OUTCOMES = {
    counted: { tone: "ok", label: "已计数 Counted" },
    duplicate: { tone: "warn", label: "重复 Duplicate" },
    unknown: { tone: "bad", label: "未知条码 Unknown" },
    other_manifest: { tone: "bad", label: "其他舱单 Other consignment" },
    void: { tone: "bad", label: "已作废 Void label" },
    invalid: { tone: "bad", label: "校验错误 Invalid" },
    queued: { tone: "queued", label: "已保存待发 Queued" },
    scanning: { tone: "idle", label: "扫描中 Scanning…" },
    sending: { tone: "idle", label: "发送中 Sending…" },
    looking: { tone: "idle", label: "查询中 Looking up…" },
    error: { tone: "error", label: "未记录 Not recorded" },
    // Look-ups (nothing counted): scan-codes.js sets each one's tone.
    job: { tone: "info", label: "已打开舱单 Consignment opened" },
    job_closed: { tone: "error", label: "不可扫描 No scans" },
    box: { tone: "info", label: "箱号 Box set" },
    product: { tone: "info", label: "商品条码 Product: not counted" },
    product_absent: { tone: "warn", label: "不在本舱单 Not on this consignment" },
    carton: { tone: "info", label: "外箱 Carton" },
    not_found: { tone: "bad", label: "未找到 Not found" },
    lookup_failed: { tone: "bad", label: "未查询 Not looked up" },
  };
  const EXPLAIN = {
    counted: "",
    duplicate: "此件已计过，不再计数 Already counted: not counted again",
    unknown: "不是本系统的单件标签 Not a unit label of this system",
    other_manifest: "此标签属于其他舱单 This label belongs to another consignment",
    void: "此标签已作废 This label was voided",
    invalid: "校验位不符，可能误读：请重扫 Check digit wrong (a misread): scan again",
  };
  const SOUNDS = {
    ok: [[1400, 0.08]],
    warn: [[700, 0.09], [0, 0.07], [700, 0.09]],
    box: [[1050, 0.12], [0, 0.05], [525, 0.25]],
    info: [[880, 0.07], [0, 0.04], [1320, 0.07]],
    bad: [[200, 0.5]],
    queued: [[520, 0.1], [0, 0.05], [390, 0.14]],
    error: [[440, 0.08], [0, 0.05], [330, 0.08], [0, 0.05], [220, 0.2]],
  };
  const VIBRATIONS = {
    ok: [60], warn: [80, 60, 80], box: [250, 80, 60], info: [40, 40, 40], bad: [400],
    queued: [40, 40, 40], error: [150, 80, 150, 80, 150],
  };

  const root = document.getElementById("scan");
  if (!root) return;
  const $ = (id) => document.getElementById(id);
  const els = {
    manifest: $("manifest"), box: $("box"), blind: $("blind"),
    result: $("result"), video: $("video"), camera: $("camera"), cameraToggle: $("camera-toggle"),
    cameraStop: $("camera-stop"), cameraMode: $("camera-mode"), torch: $("torch"),
    manual: $("manual"), manualCode: $("manual-code"), progress: $("progress"), lines: $("lines"),
    progressTotal: $("progress-total"), recent: $("recent"), recentEmpty: $("recent-empty"),
    pending: $("pending"), pendingCount: $("pending-count"), network: $("network"),
    queueProblem: $("queue-problem"), carton: $("carton"), cartonText: $("carton-text"),
    cartonClear: $("carton-clear"),
  };
  const part = (name) => els.result.querySelector(`[data-testid=result-${name}]`);
  let config = {};
  try {
    config = JSON.parse(($("scan-config") || {}).textContent || "{}");
  } catch { /* the page still scans; statuses are named by their code */ }

  const state = {
    manifestId: null,
    box: "",
    blind: false,
    carton: null, // the carton the next units come from: {code, gtin, batch, expiry, ...}
    lines: new Map(), // line_no -> {line_no, name, declared, counted}
    recent: [], // newest first: {id, kind, code, source, time, status, result, message, ...}
    shown: null, // the id of the entry in the large result panel
    pending: 0,
    blocked: new Map(), // manifest id -> {err, manifestNo}: what stopped its replay (until Retry)
  };

  // The page as the other scan-*.js modules see it.
  const S = { state, els, part, root, config, GS, UNIT_CODE, OUTCOMES, POST_TIMEOUT_MS };

  // ---- settings: the URL and localStorage remember the consignment, box and blind mode ----

  function loadSaved() {
    try {
      return JSON.parse(localStorage.getItem(STORE_KEY) || "{}") || {};
    } catch {
      return {};
    }
  }

  function optionOf(id) {
    return [...els.manifest.options].find((o) => o.value === String(id) && o.value !== "");
  }

  function hasOption(value) {
    return Boolean(optionOf(value));
  }

  // The consignment's manifest number (its id only when the page never knew it).
  function manifestNo(id) {
    const option = optionOf(id);
    return option && option.dataset.manifestNo ? option.dataset.manifestNo : `#${id}`;
  }

  // A consignment scanned by its job barcode that opened for tally since the page was drawn.
  function ensureOption(manifest) {
    if (optionOf(manifest.id)) return;
    const option = document.createElement("option");
    option.value = String(manifest.id);
    option.dataset.manifestNo = manifest.manifest_no;
    option.textContent = manifest.manifest_no;
    els.manifest.append(option);
  }

  // A status's bilingual name, whether it takes scans, and where the tally stands.
  function statusInfo(status) {
    return (config.statuses || {})[status] || { name: status, open: false, text: "" };
  }

  function initialSettings() {
    const params = new URLSearchParams(location.search);
    const saved = loadSaved();
    let manifest = params.get("manifest") || "";
    let box = params.get("box") || "";
    if (!manifest && saved.manifest && hasOption(String(saved.manifest))) {
      manifest = String(saved.manifest);
      box = box || saved.box || "";
    }
    if (manifest && !hasOption(manifest)) {
      flash(`舱单 #${manifest} 不存在 Consignment #${manifest} was not found: choose another.`);
      manifest = "";
    }
    const blind = params.has("blind") ? params.get("blind") === "1" : Boolean(saved.blind);
    els.manifest.value = manifest;
    els.box.value = box;
    els.blind.checked = blind;
  }

  function applySettings() {
    const previous = state.manifestId;
    const previousBox = state.box;
    state.manifestId = els.manifest.value ? Number(els.manifest.value) : null;
    state.box = els.box.value.trim();
    state.blind = els.blind.checked;
    const params = new URLSearchParams();
    if (state.manifestId) params.set("manifest", state.manifestId);
    if (state.box) params.set("box", state.box);
    if (state.blind) params.set("blind", "1");
    const query = params.toString();
    history.replaceState(null, "", root.dataset.scanUrl + (query ? `?${query}` : ""));
    try {
      localStorage.setItem(STORE_KEY, JSON.stringify(
        { manifest: state.manifestId, box: state.box, blind: state.blind }));
    } catch { /* private mode: the URL still remembers */ }
    // A consignment that takes no scans says why (not open yet, or closed) under the choice.
    for (const note of root.querySelectorAll(".closed-note")) {
      note.hidden = note.dataset.manifest !== els.manifest.value;
    }
    document.body.classList.toggle("blind", state.blind);
    // A carton's units go into one box of one consignment: another box ends the carton.
    if (state.manifestId !== previous || state.box !== previousBox) S.codes.clearCarton();
    if (state.manifestId !== previous) {
      S.camera.stopCamera();
      loadProgress();
    } else {
      renderLines();
    }
    renderRecent();
    if (state.shown) show(findEntry(state.shown), false);
  }

  // ---- per-line progress (not in blind mode: no expected quantity is shown then) ----

  async function loadProgress() {
    const id = state.manifestId;
    state.lines = new Map();
    renderLines();
    if (!id) return;
    try {
      const report = await api("GET", `/api/manifests/${id}/reconciliation`);
      if (id !== state.manifestId) return;
      for (const line of report.lines) {
        state.lines.set(line.line_no, {
          line_no: line.line_no, name: line.name, declared: line.declared, counted: line.counted,
        });
      }
      renderLines();
    } catch (err) {
      if (!isRetryable(err)) problem(err);
    }
  }

  function renderLines() {
    els.lines.replaceChildren();
    const visible = Boolean(state.manifestId) && !state.blind && state.lines.size > 0;
    els.progress.hidden = !visible;
    if (!visible) {
      els.progressTotal.textContent = "";
      return;
    }
    let declared = 0;
    let counted = 0;
    for (const line of state.lines.values()) {
      declared += line.declared;
      counted += line.counted;
      const item = document.createElement("li");
      item.className = "line" + (line.counted === line.declared ? " line-done" : "")
        + (line.counted > line.declared ? " line-over" : "");
      item.dataset.testid = `line-${line.line_no}`;
      const head = document.createElement("div");
      head.className = "line-head";
      const name = document.createElement("span");
      name.className = "line-name";
      name.textContent = `${line.line_no}. ${line.name}`;
      const count = document.createElement("span");
      count.className = "line-count";
      count.dataset.testid = `line-count-${line.line_no}`;
      count.textContent = `${line.counted} / ${line.declared}`;
      head.append(name, count);
      const bar = document.createElement("div");
      bar.className = "bar";
      const fill = document.createElement("span");
      fill.style.width = `${Math.min(100, line.declared ? (100 * line.counted) / line.declared : 100)}%`;
      bar.append(fill);
      item.append(head, bar);
      els.lines.append(item);
    }
    els.progressTotal.textContent = `${counted} / ${declared}`;
  }

  function updateLine(result, manifestId) {
    if (manifestId !== state.manifestId || result.line_no == null) return;
    const line = state.lines.get(result.line_no);
    if (line && typeof result.counted === "number") {
      line.counted = result.counted;
      renderLines();
    }
  }

  // ---- the result panel and the list of last scans ----

  function printable(code) {
    return code.split(GS).join("<GS>");
  }

  function looksLikeGs1(text) {
    return GS1_START.some((s) => text.startsWith(s)) || text.includes(GS) || text.startsWith("(")
      || (text.startsWith("01") && text.length > 16);
  }

  // The code as the server read it (trimmed, upper case) once answered, else as scanned.
  function codeOf(entry) {
    return printable(entry.kind === "scan" && entry.status === "done" && entry.result.code
      ? entry.result.code : entry.code);
  }

  function kindOf(entry) {
    if (entry.kind === "lookup") return entry.outcome;
    return entry.status === "done" ? entry.result.outcome : entry.status;
  }

  // The box a unit was labelled for, when it is not the box chosen as it was scanned.
  function otherBox(entry) {
    const r = entry.result;
    if (entry.kind !== "scan" || entry.status !== "done" || !entry.box
        || !["counted", "duplicate"].includes(r.outcome) || r.box_no === undefined) return null;
    const labelled = r.box_no || "";
    return labelled.toUpperCase() === entry.box.toUpperCase() ? null : { box: r.box_no };
  }

  function toneOf(entry) {
    if (entry.kind === "lookup") return entry.tone;
    const kind = kindOf(entry);
    if (entry.status === "done" && kind === "counted") {
      if (otherBox(entry)) return "box";
      if (entry.result.lot === null) return "warn"; // its batch was not recorded
    }
    return (OUTCOMES[kind] || OUTCOMES.error).tone;
  }

  // The line the unit belongs to (with its count unless blind), and what the outcome means.
  function describe(entry) {
    if (entry.kind === "lookup") return { line: entry.line, count: "", note: entry.note };
    const r = entry.result;
    if (entry.status !== "done") return { line: "", count: "", note: entry.message || "" };
    let line = "";
    let count = "";
    if (r.line_no != null) {
      const known = entry.manifestId === state.manifestId ? state.lines.get(r.line_no) : null;
      line = `第 ${r.line_no} 行 Line ${r.line_no}` + (known ? ` · ${known.name}` : "");
      if (!state.blind && typeof r.counted === "number" && typeof r.declared === "number") {
        count = ` · ${r.counted} / ${r.declared}`;
      }
    }
    const notes = EXPLAIN[r.outcome] ? [EXPLAIN[r.outcome]] : [];
    if (entry.note) notes.push(entry.note);
    const other = otherBox(entry);
    if (other) {
      notes.push(other.box
        ? `属于箱 ${other.box}，不是箱 ${entry.box} Belongs to box ${other.box}, not ${entry.box}`
        : `未指定箱号，不是箱 ${entry.box} Labelled for no box, not box ${entry.box}`);
    }
    if (r.lot) {
      notes.push(`批号 ${r.lot.batch || "—"} · 有效期 ${r.lot.expiry || "—"} recorded: batch`
        + ` ${r.lot.batch || "—"}, expiry ${r.lot.expiry || "—"}`);
    } else if (r.lot === null) {
      notes.push("批号未记录：外箱商品条码不是此行的 Batch not recorded: the carton's GTIN is not"
        + " this line's");
    }
    return { line, count, note: notes.join(" · ") };
  }

  function findEntry(id) {
    return state.recent.find((e) => e.id === id) || null;
  }

  // The panel emptied for a read in progress ("scanning", "looking"), showing its code if any.
  function clearPanel(kind, code = "") {
    state.shown = null;
    els.result.className = `result tone-idle outcome-${kind}`;
    els.result.dataset.outcome = kind;
    part("outcome").textContent = OUTCOMES[kind].label;
    part("code").textContent = printable(code);
    part("line").textContent = "";
    part("note").textContent = "";
    part("extra").replaceChildren();
  }

  function show(entry, signal = true) {
    if (!entry) return;
    state.shown = entry.id;
    const kind = kindOf(entry);
    const info = OUTCOMES[kind] || OUTCOMES.error;
    const tone = toneOf(entry);
    els.result.className = `result tone-${tone} outcome-${kind}`;
    els.result.dataset.outcome = kind;
    part("outcome").textContent = info.label;
    part("code").textContent = codeOf(entry);
    const { line, count, note } = describe(entry);
    part("line").textContent = line;
    if (count) {
      const fraction = document.createElement("span");
      fraction.className = "result-count";
      fraction.textContent = count;
      part("line").append(fraction);
    }
    part("note").textContent = note;
    part("extra").replaceChildren();
    if (entry.kind === "lookup") S.codes.renderExtra(entry, part("extra"));
    if (signal) sound(tone);
  }

  function sound(tone) {
    beep(tone);
    if (navigator.vibrate && VIBRATIONS[tone]) navigator.vibrate(VIBRATIONS[tone]);
  }

  // The newest scan's answer takes the panel. An earlier scan answered late still sounds, and a
  // problem with it is written in the flash box: no answer passes unnoticed.
  function announce(entry, signal = true) {
    renderRecent();
    if (state.shown === entry.id) {
      show(entry, signal);
      return;
    }
    if (!signal) return;
    const tone = toneOf(entry);
    const info = OUTCOMES[kindOf(entry)] || OUTCOMES.error;
    sound(tone);
    if (tone !== "ok") {
      const { note } = describe(entry);
      flash(`较早的扫描 An earlier scan, ${codeOf(entry)}: ${info.label}${note ? ` · ${note}` : ""}`);
    }
  }

  function showProblem(label, message) {
    // Not a scan (no consignment chosen, the camera failed): shown in the panel, not listed.
    clearPanel("error");
    els.result.className = "result tone-error outcome-error";
    part("outcome").textContent = label;
    part("note").textContent = message;
    sound("error");
  }

  function addRecent(scan, source, kind = "scan") {
    const entry = {
      id: scan.client_scan_id, kind, code: scan.code, source, time: new Date(),
      status: "sending", result: null, message: "", manifestId: scan.manifest_id,
      box: state.box, carton: scan.carton || null,
    };
    state.recent.unshift(entry);
    state.recent.length = Math.min(state.recent.length, RECENT_MAX);
    return entry;
  }

  function renderRecent() {
    els.recent.replaceChildren();
    els.recentEmpty.hidden = state.recent.length > 0;
    for (const entry of state.recent) {
      const kind = kindOf(entry);
      const info = OUTCOMES[kind] || OUTCOMES.error;
      const item = document.createElement("li");
      item.className = `tone-${toneOf(entry)}`;
      item.dataset.testid = "recent-item";
      item.dataset.outcome = kind;
      const time = document.createElement("span");
      time.className = "recent-time";
      time.textContent = entry.time.toTimeString().slice(0, 8);
      const word = document.createElement("span");
      word.className = "recent-outcome";
      word.textContent = info.label;
      const code = document.createElement("code");
      code.textContent = codeOf(entry);
      const line = document.createElement("span");
      line.className = "recent-line";
      const r = entry.result;
      if (entry.kind === "lookup") {
        line.textContent = entry.summary;
      } else if (entry.status === "done" && r.line_no != null) {
        const other = otherBox(entry);
        line.textContent = `Line ${r.line_no}` + (!state.blind && typeof r.counted === "number"
          && typeof r.declared === "number" ? ` · ${r.counted}/${r.declared}` : "")
          + (other ? ` · box ${other.box || "—"}` : "");
      } else if (entry.status === "error") {
        line.textContent = entry.message;
      }
      item.append(time, word, code, line);
      els.recent.append(item);
    }
  }

  // ---- sound and vibration ----

  let audio = null;
  function unlockAudio() {
    // Browsers start audio only after a user gesture (a key or a tap has been seen). Never
    // called inside a wedge read: opening the audio device stalls the page for tens of ms.
    try {
      const Context = window.AudioContext || window.webkitAudioContext;
      if (!audio && Context) audio = new Context();
      if (audio && audio.state === "suspended") audio.resume();
    } catch { /* no sound on this device */ }
  }

  function beep(tone) {
    const pattern = SOUNDS[tone];
    if (!pattern) return;
    unlockAudio();
    if (!audio) return;
    try {
      let t = audio.currentTime + 0.01;
      for (const [frequency, duration] of pattern) {
        if (frequency) {
          const osc = audio.createOscillator();
          const gain = audio.createGain();
          osc.type = tone === "bad" ? "square" : "sine";
          osc.frequency.value = frequency;
          gain.gain.setValueAtTime(0.0001, t);
          gain.gain.exponentialRampToValueAtTime(0.35, t + 0.01);
          gain.gain.setValueAtTime(0.35, t + duration - 0.02);
          gain.gain.exponentialRampToValueAtTime(0.0001, t + duration);
          osc.connect(gain).connect(audio.destination);
          osc.start(t);
          osc.stop(t + duration);
        }
        t += duration;
      }
    } catch { /* no sound on this device */ }
  }

  // ---- sending scans ----

  // Time-ordered (like UUIDv7: milliseconds first, then 64 random bits), so the ledger's index on
  // client scan ids grows at its end instead of at random places (docs/storage.md).
  // getRandomValues works on plain-http LAN pages too.
  function newScanId() {
    const random = new Uint32Array(2);
    crypto.getRandomValues(random);
    const hex = (n, width) => n.toString(16).padStart(width, "0");
    return `${hex(Date.now(), 12)}-${hex(random[0], 8)}${hex(random[1], 8)}`;
  }

  function deviceId() {
    let id = null;
    try {
      id = localStorage.getItem(DEVICE_KEY);
      if (!id) {
        id = `web-${newScanId().replace(/-/g, "").slice(0, 10)}`;
        localStorage.setItem(DEVICE_KEY, id);
      }
    } catch { /* private mode */ }
    return id || "web";
  }

  function scansPath(manifestId) {
    return `/api/manifests/${manifestId}/scans` + (state.blind ? "?blind=1" : "");
  }

  function withTimeout(promise, ms) {
    let timer;
    const late = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new TypeError(`no answer within ${ms / 1000} s`)), ms);
    });
    return Promise.race([promise, late]).finally(() => clearTimeout(timer));
  }

  // Network down, no answer, or a server fault: worth sending again later.
  function isRetryable(err) {
    return err instanceof TypeError || (err instanceof ApiError && err.status >= 500);
  }

  function errorMessage(err) {
    if (err instanceof ApiError) {
      if (err.status === 401) return "会话已过期 Your session has expired: sign in again";
      // bilingual() and describeErrors() are api.js's: Chinese, then English.
      let text = bilingual(err.body.error_zh, err.message);
      if (err.status === 409 && err.body.tally && !err.body.error_zh) {
        // An answer without Chinese: the tally's state said in it all the same.
        text = `${err.body.tally === "not_open_yet" ? "理货未开始" : "理货已结束"} ${err.message}`;
      }
      const details = describeErrors(err);
      return text + (details.length ? ` (${details.join("; ")})` : "");
    }
    return `网络不可用 The network is unavailable: ${err.message}`;
  }

  function signInLink() {
    const link = document.createElement("a");
    link.className = "button";
    link.dataset.testid = "sign-in-again";
    link.href = `${root.dataset.loginUrl}?next=${encodeURIComponent(location.pathname + location.search)}`;
    link.textContent = "重新登录 Sign in again";
    return link;
  }

  // An error in the flash box in both languages, with a sign-in link when the session expired.
  function problem(err) {
    flash(err instanceof Error ? errorMessage(err) : err);
    if (err instanceof ApiError && err.status === 401) {
      const box = document.getElementById("flash");
      const line = document.createElement("p");
      line.append(signInLink());
      box.append(line);
    }
  }

  // One code read by the wedge, typed by hand or read by the camera. A unit label is a scan;
  // anything else is looked up first (scan-codes.js). True when the code was taken: recorded,
  // safely queued or acted on (the manual field may then be cleared).
  async function submitCode(code, source) {
    if (!code) return false;
    if (!UNIT_INPUT.test(code)) return S.codes.lookUp(code, source);
    await S.codes.settled(); // a carton or job read just before applies to this unit
    return sendScan(code, source);
  }

  // Record a scan (a unit label, or a code the ledger records as unknown), with the current
  // carton; ``note`` is said with its answer.
  async function sendScan(code, source, note = "") {
    if (!state.manifestId) {
      showProblem("先选择舱单 Choose a consignment",
        `${printable(code)} 未记录 was not recorded: pick the consignment first.`);
      els.manifest.focus();
      return false;
    }
    const scan = {
      client_scan_id: newScanId(), code, device: deviceId(), manifest_id: state.manifestId,
      manifest_no: manifestNo(state.manifestId), time: new Date().toISOString(),
    };
    if (state.carton) scan.carton = state.carton.code;
    const entry = addRecent(scan, source);
    entry.note = note;
    renderRecent();
    show(entry, false);
    if (state.pending > 0) {
      // Older scans are still waiting: this one goes behind them, so the order is kept.
      await S.queue.enqueue(scan, entry);
      S.queue.flushQueue();
      return true;
    }
    try {
      const body = await withTimeout(api("POST", scansPath(scan.manifest_id),
        { code: scan.code, client_scan_id: scan.client_scan_id, device: scan.device,
          carton: scan.carton }),
      POST_TIMEOUT_MS);
      S.queue.setOnline(true);
      finish(entry, body.results[0], true);
      return true;
    } catch (err) {
      if (isRetryable(err) || (err instanceof ApiError && err.status === 401)) {
        if (isRetryable(err)) S.queue.setOnline(false);
        if (err instanceof ApiError && err.status === 401) {
          S.queue.block(scan.manifest_id, err, scan.manifest_no);
        }
        await S.queue.enqueue(scan, entry, err);
        return true;
      }
      entry.status = "error";
      entry.message = errorMessage(err);
      if (state.shown === entry.id) problem(err);
      announce(entry);
      return false;
    }
  }

  function finish(entry, result, signal) {
    entry.status = "done";
    entry.result = result;
    updateLine(result, entry.manifestId);
    announce(entry, signal);
  }

  Object.assign(S, {
    show, showProblem, clearPanel, announce, findEntry, addRecent, renderRecent, finish, sound,
    submitCode, sendScan, printable, looksLikeGs1, problem, errorMessage, isRetryable,
    withTimeout, scansPath, newScanId, deviceId, signInLink, loadProgress, applySettings,
    manifestNo, ensureOption, statusInfo,
  });
  const parts = window.TallyScan || {};
  S.queue = parts.queue(S);
  S.setOnline = S.queue.setOnline;
  S.wedge = parts.wedge(S);
  S.camera = parts.camera(S);
  S.codes = parts.codes(S);

  // ---- wiring ----

  function init() {
    initialSettings();
    applySettings();
    renderRecent();
    S.queue.renderQueueProblem();
    S.queue.setOnline(navigator.onLine !== false);

    S.wedge.start();
    document.addEventListener("pointerdown", unlockAudio, true);
    els.manifest.addEventListener("change", () => {
      applySettings();
      els.manifest.blur(); // a focused select would take the next scan's keys as a search
    });
    els.box.addEventListener("change", applySettings);
    els.box.addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        els.box.blur(); // back to the wedge; "change" applies the box
      }
    });
    els.blind.addEventListener("change", () => {
      applySettings();
      if (!state.blind) loadProgress();
    });
    els.manual.addEventListener("submit", async (event) => {
      event.preventDefault();
      const code = els.manualCode.value.trim();
      if (!code) {
        els.manualCode.focus();
        return;
      }
      clearFlash();
      if (await submitCode(code, "manual")) els.manualCode.value = "";
    });
    S.camera.start();
    S.codes.start();
    S.queue.start().finally(() => {
      root.dataset.queueReady = "1";
    });
  }

  init();
})();
