// A signature pad on a <canvas>: pointer events, so a finger, a stylus and a mouse all sign.
// The strokes are kept in CSS pixels and redrawn when the canvas is resized or moves to a screen
// of another devicePixelRatio, so the ink stays sharp and nothing drawn is lost.
//
//   const pad = new SignaturePad(canvas, { onChange: (pad) => ... });
//   pad.isEmpty(); pad.clear(); pad.toDataURL();  // "data:image/png;base64,..." or null
"use strict";

class SignaturePad {
  constructor(canvas, options = {}) {
    this.canvas = canvas;
    this.context = canvas.getContext("2d");
    this.ink = options.ink || "#0d1b3d";
    this.width = options.width || 2.6;  // CSS pixels; pressure varies it around this
    this.onChange = options.onChange || (() => {});
    this.strokes = [];
    this.active = null;  // { pointerId, points }
    // The page must not scroll or zoom under a finger that is signing.
    canvas.style.touchAction = "none";
    canvas.style.userSelect = "none";
    canvas.addEventListener("pointerdown", (e) => this._down(e));
    canvas.addEventListener("pointermove", (e) => this._move(e));
    for (const type of ["pointerup", "pointercancel", "lostpointercapture"]) {
      canvas.addEventListener(type, (e) => this._up(e));
    }
    canvas.addEventListener("contextmenu", (e) => e.preventDefault());
    if (window.ResizeObserver) {
      new ResizeObserver(() => this.resize()).observe(canvas);
    } else {
      window.addEventListener("resize", () => this.resize());
    }
    this._watchPixelRatio();
    this.resize();
  }

  isEmpty() {
    return this.strokes.length === 0;
  }

  clear() {
    this.strokes = [];
    this.active = null;
    this._redraw();
    this.onChange(this);
  }

  // The signature as a PNG data URL: dark ink on white, at the canvas's device resolution.
  toDataURL() {
    if (this.isEmpty()) return null;
    const out = document.createElement("canvas");
    out.width = this.canvas.width;
    out.height = this.canvas.height;
    const context = out.getContext("2d");
    context.fillStyle = "#fff";
    context.fillRect(0, 0, out.width, out.height);
    context.drawImage(this.canvas, 0, 0);
    return out.toDataURL("image/png");
  }

  // Match the backing store to the displayed size times the pixel ratio, then redraw.
  resize() {
    const rect = this.canvas.getBoundingClientRect();
    if (!rect.width || !rect.height) return;  // hidden: resized again when shown
    const ratio = window.devicePixelRatio || 1;
    const width = Math.round(rect.width * ratio);
    const height = Math.round(rect.height * ratio);
    if (width === this.canvas.width && height === this.canvas.height && ratio === this.ratio) {
      return;
    }
    // Scale the kept strokes when the box changes width (a phone turned sideways).
    if (this.cssWidth && this.cssHeight && (this.cssWidth !== rect.width ||
                                            this.cssHeight !== rect.height)) {
      const sx = rect.width / this.cssWidth;
      const sy = rect.height / this.cssHeight;
      for (const stroke of this.strokes) {
        for (const p of stroke) { p.x *= sx; p.y *= sy; }
      }
    }
    this.cssWidth = rect.width;
    this.cssHeight = rect.height;
    this.ratio = ratio;
    this.canvas.width = width;
    this.canvas.height = height;
    this._redraw();
  }

  _watchPixelRatio() {
    if (!window.matchMedia) return;
    const query = window.matchMedia(`(resolution: ${window.devicePixelRatio || 1}dppx)`);
    const changed = () => {
      this.resize();
      this._watchPixelRatio();
    };
    if (query.addEventListener) query.addEventListener("change", changed, { once: true });
  }

  _point(event) {
    const rect = this.canvas.getBoundingClientRect();
    // A mouse reports pressure 0.5 while a button is down; pens and some screens report more.
    const pressure = event.pointerType === "mouse" || !event.pressure ? 0.5 : event.pressure;
    return { x: event.clientX - rect.left, y: event.clientY - rect.top, pressure };
  }

  _down(event) {
    if (this.active) return;  // a second finger or the palm: ignore it
    if (event.pointerType === "mouse" && event.button !== 0) return;
    event.preventDefault();
    try {
      this.canvas.setPointerCapture(event.pointerId);
    } catch (_) {
      // Synthetic events have no capturable pointer; drawing works without capture.
    }
    const points = [this._point(event)];
    this.active = { pointerId: event.pointerId, points };
    this.strokes.push(points);
    this._drawStroke(points, 0);
  }

  _move(event) {
    if (!this.active || event.pointerId !== this.active.pointerId) return;
    event.preventDefault();
    const points = this.active.points;
    const from = points.length - 1;
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
    for (const e of events.length ? events : [event]) points.push(this._point(e));
    this._drawStroke(points, from);
  }

  _up(event) {
    if (!this.active || event.pointerId !== this.active.pointerId) return;
    this.active = null;
    this.onChange(this);
  }

  _redraw() {
    const c = this.context;
    c.setTransform(1, 0, 0, 1, 0, 0);
    c.clearRect(0, 0, this.canvas.width, this.canvas.height);
    for (const stroke of this.strokes) this._drawStroke(stroke, 0);
  }

  // Draw the stroke's segments from index `from` on (a lone point is a dot).
  _drawStroke(points, from) {
    const c = this.context;
    const ratio = this.ratio || 1;
    c.setTransform(ratio, 0, 0, ratio, 0, 0);
    c.strokeStyle = this.ink;
    c.fillStyle = this.ink;
    c.lineCap = "round";
    c.lineJoin = "round";
    if (points.length === 1) {
      c.beginPath();
      c.arc(points[0].x, points[0].y, this._lineWidth(points[0]) / 2, 0, 2 * Math.PI);
      c.fill();
      return;
    }
    for (let i = Math.max(from, 0) + 1; i < points.length; i++) {
      const a = points[i - 1];
      const b = points[i];
      c.lineWidth = this._lineWidth(b);
      c.beginPath();
      c.moveTo(a.x, a.y);
      c.lineTo(b.x, b.y);
      c.stroke();
    }
  }

  _lineWidth(point) {
    return this.width * (0.6 + 0.8 * point.pressure);
  }
}
