// The scan page's offline queue: scans that cannot be sent wait in IndexedDB, one record per
// scan, and are replayed in order (the server is idempotent by client_scan_id). Loaded before
// scan.js, which builds the page (S) and calls TallyScan.queue(S).
"use strict";

(() => {
  const RETRY_MS = 4000; // the queue is retried this often while it holds scans
  const MAX_BATCH = 1000; // the API's batch limit
  const FRESH_MS = 5000; // a replayed scan younger than this still beeps its outcome

  function createQueue(S) {
    const { state, els } = S;

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
        S.announce(entry);
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
      S.announce(entry);
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
        flushing = replay().catch((err) => S.problem(err)).finally(() => {
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
          body = await S.withTimeout(api("POST", S.scansPath(manifestId), {
            scans: chunk.map((s) => ({
              code: s.code, client_scan_id: s.client_scan_id, device: s.device || undefined,
              carton: s.carton || undefined,
            })),
          }), S.POST_TIMEOUT_MS * 3);
        } catch (err) {
          if (S.isRetryable(err)) {
            setOnline(false);
            break;
          }
          // Refused (session expired, tally closed, ...): kept, shown, not retried until asked.
          block(manifestId, err, chunk[0].manifest_no);
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
          const entry = S.findEntry(s.client_scan_id);
          // The scan in the panel, made a moment ago, is announced as usual; the others (a queue
          // may hold many) only update the list, and the summary below tells them.
          if (entry) {
            S.finish(entry, result, state.shown === entry.id
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
        if (touched.has(state.manifestId)) S.loadProgress();
      }
    }

    // The scans of one consignment stop here until Retry (or signing in again): why is shown.
    function block(manifestId, err, manifestNo) {
      state.blocked.set(manifestId, { err, manifestNo: manifestNo || S.manifestNo(manifestId) });
      renderQueueProblem();
    }

    function renderQueueProblem() {
      els.queueProblem.replaceChildren();
      els.queueProblem.hidden = state.blocked.size === 0;
      for (const [manifestId, { err, manifestNo }] of state.blocked) {
        const name = manifestNo || S.manifestNo(manifestId);
        const line = document.createElement("p");
        line.textContent = `舱单 ${name} 的待发扫描未能发送 Queued scans of consignment`
          + ` ${name} were refused: ${S.errorMessage(err)}. `
          + "它们仍保存着 They are kept.";
        if (err instanceof ApiError && err.status === 401) line.append(" ", S.signInLink());
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

    function start() {
      window.addEventListener("online", () => {
        setOnline(true);
        flushQueue();
      });
      window.addEventListener("offline", () => setOnline(false));
      setInterval(() => {
        if (state.pending > 0) flushQueue();
      }, RETRY_MS);
      return refreshPending().then(() => (state.pending > 0 ? flushQueue() : null));
    }

    return { enqueue, refreshPending, flushQueue, block, renderQueueProblem, setOnline, start };
  }

  (window.TallyScan = window.TallyScan || {}).queue = createQueue;
})();
