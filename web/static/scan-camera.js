// The scan page's camera: this device's BarcodeDetector, else frames decoded by the server.
// Unit labels in view are scanned; a frame with none is looked at for a carton's GS1 code, a job
// or box label, or a product's GTIN, which is looked up as a wedge read of it would be. Loaded
// before scan.js, which builds the page (S) and calls TallyScan.camera(S).
"use strict";

(() => {
  const FRAME_INTERVAL_MS = 500; // a camera frame about twice a second
  const CAMERA_REPEAT_MS = 3000; // a code seen again by the camera within this is not re-sent
  // What BarcodeDetector is asked for, of what the device supports: unit, job and box labels are
  // Code 128; cartons carry GS1 DataMatrix (or GS1-128); goods carry EAN/UPC.
  const DEVICE_FORMATS = ["code_128", "data_matrix", "qr_code", "ean_13", "ean_8", "upc_a",
    "upc_e"];
  // ISO/IEC 15424 symbology identifiers of GS1 symbols: the text is a GS1 element string.
  const GS1_SYMBOLOGIES = new Set(["]d2", "]C1", "]Q3", "]e0", "]J1"]);
  const OWN_LABEL = /^[JB]\d{12}$/i; // a job or box label (unit labels are S.UNIT_CODE)
  const GTIN = /^(\d{8}|\d{12,14})$/;

  function createCamera(S) {
    const { state, els } = S;
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

    // A read's text as the server's code look-up takes it: a GS1 symbol's element string keeps
    // its symbology identifier in front (as a 2D scanner sends it), so it is read as a carton.
    function asScanned(text, symbology) {
      if (symbology && GS1_SYMBOLOGIES.has(symbology) && !/^[\](]/.test(text)) {
        return symbology + text;
      }
      return text;
    }

    // Of a frame's codes that are no unit label, the one worth looking up: a carton first, then
    // a job or box label, then a product's GTIN. Other barcodes on the goods are ignored.
    function bestOther(texts) {
      const rank = (t) => (S.looksLikeGs1(t) ? 0 : OWN_LABEL.test(t) ? 1 : GTIN.test(t) ? 2 : 9);
      const ranked = texts.map((t) => [rank(t), t]).filter(([r]) => r < 9);
      ranked.sort((a, b) => a[0] - b[0]);
      return ranked.length ? ranked[0][1] : null;
    }

    // Unit codes in view are scanned; with none, the best other code is looked up.
    function lookAtOthers(texts) {
      const other = bestOther(texts);
      if (other !== null) for (const code of cameraFresh([other])) S.submitCode(code, "camera");
    }

    async function startCamera() {
      if (camera.stream) return;
      if (!state.manifestId) {
        S.showProblem("先选择舱单 Choose a consignment",
          "相机扫描需要先选择舱单 Pick the consignment first.");
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
          const supported = await window.BarcodeDetector.getSupportedFormats();
          if (supported.includes("code_128")) {
            camera.detector = new window.BarcodeDetector(
              { formats: DEVICE_FORMATS.filter((f) => supported.includes(f)) });
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
        if (S.isRetryable(err)) {
          S.setOnline(false); // camera frames are not queued; reading resumes with the network
        } else {
          stopCamera();
          S.problem(err);
          if (err instanceof ApiError) {
            S.showProblem(S.OUTCOMES.error.label, S.errorMessage(err));
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
      const texts = found.map((b) => b.rawValue);
      const units = texts.filter((t) => S.UNIT_CODE.test(t));
      if (units.length) for (const code of cameraFresh(units)) S.submitCode(code, "camera");
      else lookAtOthers(texts);
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
      const texts = found.barcodes.map((b) => asScanned(b.text, b.symbology_identifier));
      const codes = texts.filter((t) => S.UNIT_CODE.test(t));
      if (!codes.length) {
        if (manifestId === state.manifestId) lookAtOthers(texts);
        return;
      }
      const fresh = cameraFresh(codes);
      if (!fresh.length || manifestId !== state.manifestId) return;
      const scan = new FormData();
      scan.append("image", blob, "frame.jpg");
      scan.append("client_scan_id", S.newScanId());
      scan.append("device", S.deviceId());
      // Units unpacked from a carton take its batch and expiry.
      if (state.carton) scan.append("carton", state.carton.code);
      let body;
      try {
        body = await api("POST", S.scansPath(manifestId), scan);
      } catch (err) {
        for (const code of fresh) camera.seen.delete(code); // read it again from the next frame
        // 422 "no unit label barcode was found": nothing usable in this frame after all.
        if (err instanceof ApiError && err.status === 422) return;
        throw err;
      }
      S.setOnline(true);
      for (const result of body.results) {
        if (!fresh.includes(result.code)) continue; // seen just before: recorded, not announced
        const entry = S.addRecent({ client_scan_id: `${result.client_scan_id}:${result.code}`,
          code: result.code, manifest_id: manifestId }, "camera");
        state.shown = entry.id;
        S.finish(entry, result, true);
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

    function start() {
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
    }

    return { stopCamera, start };
  }

  (window.TallyScan = window.TallyScan || {}).camera = createCamera;
})();
