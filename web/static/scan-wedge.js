// The scan page's keyboard wedge: a burst of keys faster than a person types is a scan, wherever
// the focus is. Loaded before scan.js, which builds the page (S) and calls TallyScan.wedge(S).
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

  function createWedge(S) {
    const { state, els, GS } = S;

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
      S.clearPanel("scanning");
    }

    function restorePanel() {
      const saved = burst.panel;
      burst.panel = null;
      if (!saved) return;
      const entry = saved.shown && S.findEntry(saved.shown);
      if (entry) {
        S.show(entry, false); // as it stands now: it may have been answered meanwhile
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
        S.submitCode(endBurst(true), "wedge");
      } else if ([...burst.fields.keys()].some(isTextField)) {
        endBurst(false); // fast typing in a field, as far as anyone can tell: it stays there
      } else {
        const keys = S.printable(endBurst(true));
        S.showProblem(S.OUTCOMES.error.label, `读到 ${keys} 但没有回车 These keys came as fast as a`
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
          S.submitCode(endBurst(true), "wedge");
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
      // A pause starts a new burst here. So does each slow key once a person is seen typing (a
      // box number), until fast keys come. Fewer or faster keys cannot be told from a scanner's
      // first keys slowed by a Bluetooth hiccup or a busy device: they stay, so no scanner key
      // is lost.
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

    function start() {
      document.addEventListener("keydown", onKeyDown, true);
    }

    return { start };
  }

  (window.TallyScan = window.TallyScan || {}).wedge = createWedge;
})();
