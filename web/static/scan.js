// The handheld scanner page: keyboard-wedge, typed and camera scans of unit labels, each answered
// at once in large type with a colour, a beep and a vibration; scans that cannot be sent wait in
// IndexedDB and are replayed in order (the server is idempotent by client_scan_id).
"use strict";

(() => {
  // A scanner read (a burst), wherever the focus is: keys 50 ms or less apart on average (wedge
  // scanners send one every 1-40 ms; a person averages 80+ ms even in a practised word), at least
  // MIN_SCAN_LENGTH of them, ended by Enter or Tab. The average, not every gap, so a hiccup of a
  // Bluetooth link or a busy device does not cut a read; a pause of more than WEDGE_PAUSE_MS ends
  // it, and MIN_SCAN_LENGTH keys PERSON_GAP_MS or more apart on average are a person's typing.
  const WEDGE_GAP_MS = 50;
  const PERSON_GAP_MS = 100;
  const WEDGE_PAUSE_MS = 500;
  const MIN_SCAN_LENGTH = 4; // shorter bursts are stray keys, not a label
  // A burst with no Enter after WEDGE_PAUSE_MS is still a scan from this length (a unit code has
  // 13 characters; no person types 8 keys in 350 ms); a shorter one is told, never dropped silently.
  const NO_ENTER_MIN_LENGTH = 8;
  const FRAME_INTERVAL_MS = 500; // a camera frame about twice a second
  const CAMERA_REPEAT_MS = 3000; // a code seen again by the camera within this is not re-sent
  const RETRY_MS = 4000; // the offline queue is retried this often while it holds scans
  const POST_TIMEOUT_MS = 10000; // a scan with no answer by then waits in the queue
  const MAX_BATCH = 1000; // the API's batch limit
  const RECENT_MAX = 10;
  const FRESH_MS = 5000; // a replayed scan younger than this still beeps its outcome
  const GS = "\x1d"; // GS1 group separator, kept inside the code
  const UNIT_CODE = /^U\d{12}$/;
  const STORE_KEY = "tally.scan";
  const DEVICE_KEY = "tally.scan.device";

  // Outcome -> tone (colour, sound, vibration) and the bilingual word shown in large type.
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
    error: { tone: "error", label: "未记录 Not recorded" },
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
    bad: [[200, 0.5]],
    queued: [[520, 0.1], [0, 0.05], [390, 0.14]],
    error: [[440, 0.08], [0, 0.05], [330, 0.08], [0, 0.05], [220, 0.2]],
  };
  const VIBRATIONS = {
    ok: [60], warn: [80, 60, 80], bad: [400], queued: [40, 40, 40], error: [150, 80, 150, 80, 150],
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
    queueProblem: $("queue-problem"), boxNote: $("box-note"),
  };
  const part = (name) => els.result.querySelector(`[data-testid=result-${name}]`);

  const state = {
    manifestId: null,
    box: "",
    blind: false,
    lines: new Map(), // line_no -> {line_no, name, declared, counted}
    boxCodes: null, // codes issued to the chosen box (null: no box, or not known)
    boxFailed: false, // the look-up of the box's codes failed: tried again at the next scan
    recent: [], // newest first: {id, code, source, time, status, result, message, manifestId}
    shown: null, // the id of the entry in the large result panel
    pending: 0,
    blocked: new Map(), // manifest id -> the error that stopped its replay (until Retry)
  };

  // ---- settings: the URL and localStorage remember the consignment, box and blind mode ----

  function loadSaved() {
    try {
      return JSON.parse(localStorage.getItem(STORE_KEY) || "{}") || {};
    } catch {
      return {};
    }
  }

  function hasOption(value) {
    return [...els.manifest.options].some((o) => o.value === value && value !== "");
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
    if (state.manifestId !== previous) {
      stopCamera();
      loadProgress();
    } else {
      renderLines();
    }
    if (state.manifestId !== previous || state.box !== previousBox) loadBox();
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

  // The box check: a scan of a label not issued to the chosen box is flagged. It never goes
  // off unseen: a box with no labels flags every scan, and a failed look-up says so and is retried.
  async function loadBox() {
    const id = state.manifestId;
    const box = state.box;
    state.boxCodes = null;
    state.boxFailed = false;
    setBoxNote("");
    if (!id || !box) return;
    let note = "";
    try {
      const found = await api("GET",
        `/api/manifests/${id}/labels?box_no=${encodeURIComponent(box)}`);
      if (id !== state.manifestId || box !== state.box) return;
      state.boxCodes = new Set(found.labels.map((l) => l.code));
      if (!state.boxCodes.size) {
        note = `箱 ${box} 没有已签发的标签 No labels were issued to box ${box}:`
          + " every scan is flagged as not from it.";
      }
    } catch (err) {
      if (id !== state.manifestId || box !== state.box) return;
      state.boxFailed = true;
      note = `暂时无法检查箱号 The box check is paused: the labels of box ${box} could not be`
        + ` loaded (${errorMessage(err)}). It is tried again at the next scan.`;
    }
    setBoxNote(note);
    if (state.shown) show(findEntry(state.shown), false); // the shown answer's box note
  }

  function setBoxNote(text) {
    els.boxNote.textContent = text;
    els.boxNote.hidden = !text;
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

  // The code as the server read it (trimmed, upper case) once answered, else as scanned.
  function codeOf(entry) {
    return printable(entry.status === "done" && entry.result.code ? entry.result.code : entry.code);
  }

  function kindOf(entry) {
    return entry.status === "done" ? entry.result.outcome : entry.status;
  }

  // The line the unit belongs to (with its count unless blind), and what the outcome means.
  function describe(entry) {
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
    if (state.boxCodes && entry.manifestId === state.manifestId
        && ["counted", "duplicate"].includes(r.outcome) && !state.boxCodes.has(r.code)) {
      notes.push(`不是箱 ${state.box} 的标签 Not issued to box ${state.box}`);
    }
    return { line, count, note: notes.join(" · ") };
  }

  function findEntry(id) {
    return state.recent.find((e) => e.id === id) || null;
  }

  function show(entry, signal = true) {
    if (!entry) return;
    state.shown = entry.id;
    const kind = kindOf(entry);
    const info = OUTCOMES[kind] || OUTCOMES.error;
    els.result.className = `result tone-${info.tone} outcome-${kind}`;
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
    if (signal) sound(info.tone);
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
    const info = OUTCOMES[kindOf(entry)] || OUTCOMES.error;
    sound(info.tone);
    if (info.tone !== "ok") {
      const { note } = describe(entry);
      flash(`较早的扫描 An earlier scan, ${codeOf(entry)}: ${info.label}${note ? ` · ${note}` : ""}`);
    }
  }

  function showProblem(label, message) {
    // Not a scan (no consignment chosen, the camera failed): shown in the panel, not listed.
    state.shown = null;
    els.result.className = "result tone-error outcome-error";
    els.result.dataset.outcome = "error";
    part("outcome").textContent = label;
    part("code").textContent = "";
    part("line").textContent = "";
    part("note").textContent = message;
    sound("error");
  }

  function addRecent(scan, source) {
    const entry = {
      id: scan.client_scan_id, code: scan.code, source, time: new Date(),
      status: "sending", result: null, message: "", manifestId: scan.manifest_id,
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
      item.className = `tone-${info.tone}`;
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
      if (entry.status === "done" && r.line_no != null) {
        line.textContent = `Line ${r.line_no}` + (!state.blind && typeof r.counted === "number"
          && typeof r.declared === "number" ? ` · ${r.counted}/${r.declared}` : "");
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
      if (err.status === 409 && err.body.tally) {
        // The server says why (not open yet, or closed) and what was refused.
        const notYet = err.body.tally === "not_open_yet";
        return `${notYet ? "理货未开始" : "理货已结束"} ${err.message}`;
      }
      const details = describeErrors(err);
      return err.message + (details.length ? ` (${details.join("; ")})` : "");
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

  // An API error in the flash box, with a sign-in link when the session has expired.
  function problem(err) {
    flash(err);
    if (err instanceof ApiError && err.status === 401) {
      const box = document.getElementById("flash");
      const line = document.createElement("p");
      line.append(signInLink());
      box.append(line);
    }
  }

  // Record one code read by the wedge, typed by hand or read on this device by the camera.
  // True when the scan is recorded or safely queued (the manual field may then be cleared).
  async function submitCode(code, source) {
    if (!code) return false;
    if (!state.manifestId) {
      showProblem("先选择舱单 Choose a consignment",
        `${printable(code)} 未记录 was not recorded: pick the consignment first.`);
      els.manifest.focus();
      return false;
    }
    if (state.boxFailed) loadBox();
    const scan = {
      client_scan_id: newScanId(), code, device: deviceId(), manifest_id: state.manifestId,
      time: new Date().toISOString(),
    };
    const entry = addRecent(scan, source);
    renderRecent();
    show(entry, false);
    if (state.pending > 0) {
      // Older scans are still waiting: this one goes behind them, so the order is kept.
      await enqueue(scan, entry);
      flushQueue();
      return true;
    }
    try {
      const body = await withTimeout(api("POST", scansPath(scan.manifest_id),
        { code: scan.code, client_scan_id: scan.client_scan_id, device: scan.device }),
      POST_TIMEOUT_MS);
      setOnline(true);
      finish(entry, body.results[0], true);
      return true;
    } catch (err) {
      if (isRetryable(err) || (err instanceof ApiError && err.status === 401)) {
        if (isRetryable(err)) setOnline(false);
        if (err instanceof ApiError && err.status === 401) {
          state.blocked.set(scan.manifest_id, err);
          renderQueueProblem();
        }
        await enqueue(scan, entry, err);
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

  // ---- the offline queue: IndexedDB, one record per scan, replayed in order ----

  const queue = (() => {
    const STORE = "scans";
    let opened = null;
    const memory = []; // only when IndexedDB is not available
    let seq = 0;

    function open() {
      if (!opened) {
        opened = new Promise((resolve, reject) => {
          if (!window.indexedDB) {
            reject(new Error("IndexedDB is not available"));
            return;
          }
          const request = indexedDB.open("tally-scan-queue", 1);
          request.onupgradeneeded = () => {
            const store = request.result.createObjectStore(
              STORE, { keyPath: "seq", autoIncrement: true });
            store.createIndex("client_scan_id", "client_scan_id", { unique: true });
            store.createIndex("manifest_id", "manifest_id");
          };
          request.onsuccess = () => resolve(request.result);
          request.onerror = () => reject(request.error);
        }).catch((err) => {
          storageNote = `无法离线保存 Offline storage is unavailable (${err.message}):`
            + " queued scans are lost if the page is closed.";
          setNetworkNote("");
          return null;
        });
      }
      return opened;
    }

    async function run(mode, work) {
      const db = await open();
      if (!db) return work(null);
      return new Promise((resolve, reject) => {
        const tx = db.transaction(STORE, mode);
        let out;
        const request = work(tx.objectStore(STORE));
        if (request) request.onsuccess = () => { out = request.result; };
        tx.oncomplete = () => resolve(out);
        tx.onerror = () => reject(tx.error);
        tx.onabort = () => reject(tx.error);
      });
    }

    return {
      add: (record) => run("readwrite", (store) => {
        if (!store) {
          memory.push({ ...record, seq: ++seq });
          return null;
        }
        return store.add(record);
      }),
      // Every queued scan, oldest first (the auto-increment key is the order of scanning).
      all: async () => (await run("readonly", (store) => (store ? store.getAll() : null)))
        || memory.slice(),
      remove: (seqs) => run("readwrite", (store) => {
        if (!store) {
          const gone = new Set(seqs);
          memory.splice(0, memory.length, ...memory.filter((r) => !gone.has(r.seq)));
          return null;
        }
        for (const key of seqs) store.delete(key);
        return null;
      }),
      count: async () => {
        const n = await run("readonly", (store) => (store ? store.count() : null));
        return typeof n === "number" ? n : memory.length;
      },
    };
  })();

  // Saved to be sent later: why (no network, a server fault, the session) is said with it.
  async function enqueue(scan, entry, cause = null) {
    try {
      await queue.add(scan);
    } catch (err) {
      entry.status = "error";
      entry.message = `未能保存 Could not be saved for later: ${err.message}`;
      announce(entry);
      return;
    }
    entry.status = "queued";
    if (state.blocked.has(scan.manifest_id)) {
      entry.message = "已保存：重新登录后发送 Saved: sent once you sign in again";
    } else if (cause instanceof ApiError) {
      entry.message = `服务器出错，已保存，稍后自动重发 Server error (${cause.status}):`
        + " saved, sent again automatically";
    } else {
      entry.message = "离线：已保存，联网后自动发送 Offline: saved, sent when the network returns";
    }
    announce(entry);
    await refreshPending();
  }

  async function refreshPending() {
    try {
      state.pending = await queue.count();
    } catch {
      return;
    }
    els.pendingCount.textContent = String(state.pending);
    els.pending.classList.toggle("has-pending", state.pending > 0);
  }

  let flushing = null;
  function flushQueue() {
    if (!flushing) {
      flushing = replay().catch((err) => problem(err)).finally(() => {
        flushing = null;
        refreshPending();
      });
    }
    return flushing;
  }

  async function replay() {
    const sent = {};
    const touched = new Set();
    for (;;) {
      const items = (await queue.all()).filter((s) => !state.blocked.has(s.manifest_id));
      if (!items.length) break;
      const manifestId = items[0].manifest_id;
      const chunk = items.filter((s) => s.manifest_id === manifestId).slice(0, MAX_BATCH);
      let body;
      try {
        body = await withTimeout(api("POST", scansPath(manifestId), {
          scans: chunk.map((s) => ({
            code: s.code, client_scan_id: s.client_scan_id, device: s.device || undefined,
          })),
        }), POST_TIMEOUT_MS * 3);
      } catch (err) {
        if (isRetryable(err)) {
          setOnline(false);
          break;
        }
        // Refused (session expired, tally closed, ...): kept, shown, not retried until asked.
        state.blocked.set(manifestId, err);
        renderQueueProblem();
        continue;
      }
      setOnline(true);
      const answers = new Map();
      for (const r of body.results) if (!answers.has(r.client_scan_id)) answers.set(r.client_scan_id, r);
      const acknowledged = chunk.filter((s) => answers.has(s.client_scan_id));
      // Only what the server answered leaves the queue.
      await queue.remove(acknowledged.map((s) => s.seq));
      touched.add(manifestId);
      for (const s of acknowledged) {
        const result = answers.get(s.client_scan_id);
        sent[result.outcome] = (sent[result.outcome] || 0) + 1;
        const entry = findEntry(s.client_scan_id);
        // The scan in the panel, made a moment ago, is announced as usual; the others (a queue
        // may hold many) only update the list, and the summary below tells them.
        if (entry) {
          finish(entry, result, state.shown === entry.id
            && Date.now() - entry.time.getTime() < FRESH_MS);
        }
      }
      await refreshPending();
      if (acknowledged.length < chunk.length) break; // never loop on an unexpected answer
    }
    const total = Object.values(sent).reduce((a, b) => a + b, 0);
    if (total) {
      const summary = Object.entries(sent).map(([k, n]) => `${n} ${k}`).join(", ");
      flash(`已发送 ${total} 条离线扫描 Sent ${total} queued scan(s): ${summary}.`, "info");
      // Replayed answers carry the counts of when they were first recorded: reload the lines.
      if (touched.has(state.manifestId)) loadProgress();
    }
  }

  function renderQueueProblem() {
    els.queueProblem.replaceChildren();
    els.queueProblem.hidden = state.blocked.size === 0;
    for (const [manifestId, err] of state.blocked) {
      const line = document.createElement("p");
      line.textContent = `舱单 #${manifestId} 的待发扫描未能发送 Queued scans of consignment`
        + ` #${manifestId} were refused: ${errorMessage(err)}. `
        + "它们仍保存着 They are kept.";
      if (err instanceof ApiError && err.status === 401) line.append(" ", signInLink());
      els.queueProblem.append(line);
    }
    if (state.blocked.size) {
      const retry = document.createElement("button");
      retry.type = "button";
      retry.textContent = "重试 Retry";
      retry.dataset.testid = "queue-retry";
      retry.addEventListener("click", () => {
        state.blocked.clear();
        renderQueueProblem();
        flushQueue();
      });
      els.queueProblem.append(retry);
    }
  }

  let storageNote = "";
  function setNetworkNote(text) {
    els.network.textContent = [text, storageNote].filter(Boolean).join(" ");
    els.network.hidden = !els.network.textContent;
  }

  function setOnline(online) {
    setNetworkNote(online && navigator.onLine !== false ? ""
      : "离线 Offline: 扫描会保存并稍后发送 scans are saved and sent later");
    els.network.classList.toggle("offline", !online);
  }

  // ---- the keyboard wedge: a burst of keys faster than a person types, wherever the focus is ----

  // Seen in the capture phase, before any field. The keys of a burst that went into a field are
  // taken back out when it proves to be a scan, so the box number or a half-typed code stays
  // as it was; slow keys, and Enter after them, are the field's as usual.
  const TEXT_INPUTS = new Set(["text", "search", "number", "tel", "url", "email", "password"]);
  const MODIFIER_KEYS = new Set(["Shift", "CapsLock", "Control", "Alt", "AltGraph", "Meta",
    "NumLock"]);

  function isTextField(el) {
    return Boolean(el) && (el.tagName === "TEXTAREA"
      || (el.tagName === "INPUT" && TEXT_INPUTS.has((el.type || "text").toLowerCase())));
  }

  const burst = {
    keys: "", firstAt: -Infinity, lastAt: -Infinity, timer: null,
    fields: new Map(), // element -> its value (or checked state) before the burst's first key
    panel: null, // what the result panel showed before "Scanning…", until the burst is decided
    takenAt: -Infinity, // the last key of a burst taken as a scan on its time-out (no Enter yet)
    person: false, // the keys just before came at a person's pace
  };

  function meanGap() {
    return (burst.lastAt - burst.firstAt) / Math.max(1, burst.keys.length - 1);
  }

  function isScanBurst() {
    return burst.keys.length >= MIN_SCAN_LENGTH && meanGap() <= WEDGE_GAP_MS;
  }

  function remember(el) {
    if (!el || burst.fields.has(el)) return;
    if (el.tagName === "INPUT" && (el.type === "checkbox" || el.type === "radio")) {
      burst.fields.set(el, { checked: el.checked });
    } else if (el.tagName === "SELECT" || isTextField(el)) {
      // selectionStart is null where a type has no caret (number, email).
      burst.fields.set(el, { value: el.value, start: el.selectionStart, end: el.selectionEnd });
    }
  }

  function restoreFields() {
    for (const [el, before] of burst.fields) {
      if ("checked" in before) {
        if (el.checked === before.checked) continue;
        el.checked = before.checked;
      } else {
        if (el.value === before.value) continue;
        el.value = before.value;
        if (typeof before.start === "number") el.setSelectionRange(before.start, before.end);
        if (isTextField(el)) continue; // a text field announces its change only when left
      }
      // A select or a checkbox announced the burst's change at once: announce the way back too.
      el.dispatchEvent(new Event("change", { bubbles: true }));
    }
  }

  function showScanning() {
    burst.panel = {
      shown: state.shown, className: els.result.className, outcome: els.result.dataset.outcome,
      nodes: [...els.result.children].map((node) => node.cloneNode(true)),
    };
    state.shown = null; // an answer to an earlier scan no longer takes the panel
    els.result.className = "result tone-idle outcome-scanning";
    els.result.dataset.outcome = "scanning";
    part("outcome").textContent = OUTCOMES.scanning.label;
    part("code").textContent = "";
    part("line").textContent = "";
    part("note").textContent = "";
  }

  function restorePanel() {
    const saved = burst.panel;
    burst.panel = null;
    if (!saved) return;
    const entry = saved.shown && findEntry(saved.shown);
    if (entry) {
      show(entry, false); // as it stands now: it may have been answered meanwhile
      return;
    }
    els.result.className = saved.className;
    if (saved.outcome === undefined) delete els.result.dataset.outcome; // "Ready" has none
    else els.result.dataset.outcome = saved.outcome;
    els.result.replaceChildren(...saved.nodes);
  }

  // Forget the burst; as a scan, its keys leave the fields and its code is returned.
  function endBurst(asScan) {
    clearTimeout(burst.timer);
    const code = burst.keys;
    if (asScan) restoreFields();
    else restorePanel();
    burst.keys = "";
    burst.fields = new Map();
    burst.panel = null;
    return code;
  }

  // No Enter came: a long burst is a scan all the same; a short one is shown, not dropped.
  function onBurstTimeout() {
    if (!isScanBurst()) {
      endBurst(false);
    } else if (burst.keys.length >= NO_ENTER_MIN_LENGTH) {
      burst.takenAt = burst.lastAt;
      submitCode(endBurst(true), "wedge");
    } else if ([...burst.fields.keys()].some(isTextField)) {
      endBurst(false); // fast typing in a field, as far as anyone can tell: it stays there
    } else {
      const keys = printable(endBurst(true));
      showProblem(OUTCOMES.error.label, `读到 ${keys} 但没有回车 These keys came as fast as a`
        + " scanner's but with no Enter: not taken as a scan. Scan again, or type the code below.");
    }
  }

  function keyChar(event) {
    // GS arrives as its own character, or as Ctrl+] (the ASCII control-key spelling of 0x1D).
    if (event.key === GS || (event.ctrlKey && !event.altKey && !event.metaKey
        && (event.key === "]" || event.code === "BracketRight"))) return GS;
    if (event.ctrlKey || event.altKey || event.metaKey) return ""; // a shortcut: ignored
    return event.key.length === 1 ? event.key : null; // null: a named key (Backspace, arrows)
  }

  function onKeyDown(event) {
    if (event.isComposing) return;
    const now = event.timeStamp || performance.now();
    const gap = now - burst.lastAt;
    if (event.key === "Enter" || event.key === "Tab") {
      if (burst.keys && gap <= WEDGE_PAUSE_MS && isScanBurst()) {
        event.preventDefault(); // not a click, a form submit, a blur or a focus move
        event.stopPropagation(); // nor the focused field's own Enter
        submitCode(endBurst(true), "wedge");
      } else if (!burst.keys && now - burst.takenAt <= WEDGE_PAUSE_MS) {
        event.preventDefault(); // the late Enter of a burst already taken on its time-out
        event.stopPropagation();
      } else if (burst.keys) {
        endBurst(false);
      }
      return;
    }
    if (MODIFIER_KEYS.has(event.key)) return; // Shift for capitals: the read goes on
    const ch = keyChar(event);
    if (ch === "") return;
    if (ch === null || event.repeat) {
      if (burst.keys) endBurst(false); // editing keys or a held key: a person
      return;
    }
    // A pause starts a new burst here. So does each slow key once a person is seen typing (a box
    // number), until fast keys come. Fewer or faster keys cannot be told from a scanner's first
    // keys slowed by a Bluetooth hiccup or a busy device: they stay, so no scanner key is lost.
    const paused = !burst.keys || gap > WEDGE_PAUSE_MS;
    burst.person = !paused && gap > WEDGE_GAP_MS && (burst.person
      || (burst.keys.length >= MIN_SCAN_LENGTH && meanGap() >= PERSON_GAP_MS));
    if (paused || burst.person) {
      if (burst.keys) endBurst(false);
      burst.firstAt = now;
    }
    remember(event.target);
    if (ch === GS || (burst.keys && gap <= WEDGE_GAP_MS && !isTextField(event.target))) {
      // Inside a burst on a button, checkbox or select: no click, no toggle, no type-ahead.
      event.preventDefault();
    }
    burst.keys += ch;
    burst.lastAt = now;
    if (!burst.panel && isScanBurst()) showScanning(); // a scan has started: no old answer stands
    else if (burst.panel && !isScanBurst()) restorePanel(); // it slowed down: a person after all
    clearTimeout(burst.timer);
    burst.timer = setTimeout(onBurstTimeout, WEDGE_PAUSE_MS);
  }

  // ---- the camera: this device's BarcodeDetector, else frames decoded by the server ----

  const camera = {
    stream: null, track: null, timer: null, detector: null, frames: 0,
    seen: new Map(), canvas: document.createElement("canvas"),
  };

  function cameraFresh(codes) {
    // One label held in view counts once: a code is sent again only after 3 s out of sight.
    const now = performance.now();
    const fresh = [];
    for (const code of codes) {
      const last = camera.seen.get(code);
      if (last === undefined || now - last > CAMERA_REPEAT_MS) fresh.push(code);
      camera.seen.set(code, now);
    }
    for (const [code, at] of camera.seen) if (now - at > 60000) camera.seen.delete(code);
    return fresh;
  }

  async function startCamera() {
    if (camera.stream) return;
    if (!state.manifestId) {
      showProblem("先选择舱单 Choose a consignment", "相机扫描需要先选择舱单 Pick the consignment first.");
      return;
    }
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      flash("此页面不能使用相机 The camera is not available here: it needs HTTPS (or localhost).");
      return;
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        audio: false,
        video: { facingMode: { ideal: "environment" }, width: { ideal: 1920 },
                 height: { ideal: 1080 } },
      });
    } catch (err) {
      flash(`相机无法启动 The camera did not start: ${err.name} ${err.message}`);
      return;
    }
    camera.stream = stream;
    camera.track = stream.getVideoTracks()[0];
    camera.seen.clear();
    els.video.srcObject = stream;
    els.video.play().catch(() => {});
    const caps = camera.track && camera.track.getCapabilities ? camera.track.getCapabilities() : {};
    els.torch.hidden = !caps.torch;
    els.torch.setAttribute("aria-pressed", "false");
    camera.detector = null;
    if ("BarcodeDetector" in window) {
      try {
        const formats = await window.BarcodeDetector.getSupportedFormats();
        if (formats.includes("code_128")) {
          camera.detector = new window.BarcodeDetector({ formats: ["code_128"] });
        }
      } catch { /* decode on the server */ }
    }
    els.cameraMode.textContent = camera.detector
      ? "本机识别 Reading on this device"
      : "服务器识别 Frames are read by the server, twice a second";
    els.camera.hidden = false;
    els.cameraToggle.textContent = "关闭相机 Camera off";
    els.cameraToggle.setAttribute("aria-pressed", "true");
    els.camera.scrollIntoView({ block: "nearest" });
    camera.timer = setTimeout(grabFrame, FRAME_INTERVAL_MS);
  }

  function stopCamera() {
    clearTimeout(camera.timer);
    camera.timer = null;
    if (camera.stream) for (const track of camera.stream.getTracks()) track.stop();
    camera.stream = null;
    camera.track = null;
    els.video.srcObject = null;
    els.camera.hidden = true;
    els.torch.hidden = true;
    els.cameraToggle.textContent = "相机 Camera";
    els.cameraToggle.setAttribute("aria-pressed", "false");
  }

  async function grabFrame() {
    const stream = camera.stream;
    if (!stream) return;
    try {
      const video = els.video;
      if (video.readyState >= 2 && video.videoWidth && state.manifestId) {
        // The full frame as the camera gives it: never scaled down before reading.
        camera.canvas.width = video.videoWidth;
        camera.canvas.height = video.videoHeight;
        camera.canvas.getContext("2d").drawImage(video, 0, 0);
        if (camera.detector) await readOnDevice();
        else await readOnServer(state.manifestId);
      }
    } catch (err) {
      if (isRetryable(err)) {
        setOnline(false); // camera frames are not queued; reading resumes with the network
      } else {
        stopCamera();
        problem(err);
        if (err instanceof ApiError) {
          showProblem(OUTCOMES.error.label, errorMessage(err));
        }
      }
    } finally {
      if (camera.stream === stream) camera.timer = setTimeout(grabFrame, FRAME_INTERVAL_MS);
    }
  }

  function countFrame() {
    camera.frames += 1;
    els.camera.dataset.frames = String(camera.frames);
  }

  async function readOnDevice() {
    const found = await camera.detector.detect(camera.canvas);
    countFrame();
    const codes = found.map((b) => b.rawValue).filter((t) => UNIT_CODE.test(t));
    for (const code of cameraFresh(codes)) submitCode(code, "camera");
  }

  async function readOnServer(manifestId) {
    const blob = await new Promise((resolve) => camera.canvas.toBlob(resolve, "image/jpeg", 0.9));
    if (!blob) return;
    const form = new FormData();
    form.append("image", blob, "frame.jpg");
    // Decode first (nothing recorded), so a label held in view is posted as a scan once.
    let found;
    try {
      found = await api("POST", "/api/decode", form);
    } catch (err) {
      if (err instanceof ApiError && err.status === 422) return; // nothing readable in view
      throw err;
    }
    countFrame();
    const codes = found.barcodes.map((b) => b.text).filter((t) => UNIT_CODE.test(t));
    const fresh = cameraFresh(codes);
    if (!fresh.length || manifestId !== state.manifestId) return;
    const scan = new FormData();
    scan.append("image", blob, "frame.jpg");
    scan.append("client_scan_id", newScanId());
    scan.append("device", deviceId());
    let body;
    try {
      body = await api("POST", scansPath(manifestId), scan);
    } catch (err) {
      for (const code of fresh) camera.seen.delete(code); // read it again from the next frame
      // 422 "no unit label barcode was found": nothing usable in this frame after all.
      if (err instanceof ApiError && err.status === 422) return;
      throw err;
    }
    setOnline(true);
    for (const result of body.results) {
      if (!fresh.includes(result.code)) continue; // seen just before: recorded, not announced
      const entry = addRecent({ client_scan_id: `${result.client_scan_id}:${result.code}`,
        code: result.code, manifest_id: manifestId }, "camera");
      state.shown = entry.id;
      finish(entry, result, true);
    }
  }

  async function toggleTorch() {
    if (!camera.track) return;
    const on = els.torch.getAttribute("aria-pressed") !== "true";
    try {
      await camera.track.applyConstraints({ advanced: [{ torch: on }] });
      els.torch.setAttribute("aria-pressed", String(on));
    } catch (err) {
      flash(`手电无法切换 The torch did not switch: ${err.message}`);
    }
  }

  // ---- wiring ----

  function init() {
    initialSettings();
    applySettings();
    renderRecent();
    renderQueueProblem();
    setOnline(navigator.onLine !== false);

    document.addEventListener("keydown", onKeyDown, true);
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
    els.cameraToggle.addEventListener("click", () => {
      if (camera.stream) stopCamera();
      else startCamera();
    });
    els.cameraStop.addEventListener("click", stopCamera);
    els.torch.addEventListener("click", toggleTorch);
    document.addEventListener("visibilitychange", () => {
      if (document.hidden) stopCamera();
    });
    window.addEventListener("pagehide", stopCamera);
    window.addEventListener("online", () => {
      setOnline(true);
      flushQueue();
    });
    window.addEventListener("offline", () => setOnline(false));
    setInterval(() => {
      if (state.pending > 0) flushQueue();
    }, RETRY_MS);
    refreshPending().then(() => (state.pending > 0 ? flushQueue() : null)).finally(() => {
      root.dataset.queueReady = "1";
    });
  }

  init();
})();
