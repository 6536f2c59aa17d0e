// Line charts on a plain <canvas>: a time axis (the last minute), one or more series with gaps
// (null), optional horizontal reference lines (the memory budget). No dependencies.
//
// After each draw the canvas carries what it shows, for people and tests alike:
//   data-points  non-null points over every series
//   data-sum     the sum of the first series' values
//   data-last    the first series' newest non-null value ("" when none)
//   data-draws   how many times it was drawn

// The smallest "nice" number (1, 2, 2.5, 5 times a power of ten) at or above v.
export function niceCeil(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) {
    if (m * p >= v) return m * p;
  }
  return 10 * p;
}

export class LineChart {
  // options: series [{name, color, dash}], format (value -> axis label), step (the largest
  // value -> the grid step; 4 steps fill the axis), window (seconds).
  constructor(canvas, options) {
    this.canvas = canvas;
    this.series = options.series;
    this.format = options.format || ((v) => String(v));
    this.step = options.step || ((max) => niceCeil(max / 4));
    this.notes = [];
    this.window = options.window || 60;
    this.xs = [];
    this.ys = this.series.map(() => []);
    this.hlines = [];
    this.draws = 0;
    this.legend = options.legend !== false;
  }

  // xs: times in seconds (ascending); ys: one array per series, aligned with xs (null = gap);
  // hlines: [{value, name, color}]; notes: legend texts without a line.
  set(xs, ys, hlines = [], notes = []) {
    this.xs = xs;
    this.ys = ys;
    this.hlines = hlines;
    this.notes = notes;
    this.draw();
  }

  draw() {
    const c = this.canvas;
    const dpr = window.devicePixelRatio || 1;
    const cssW = c.clientWidth || c.width;
    const cssH = c.clientHeight || c.height;
    if (c.width !== Math.round(cssW * dpr) || c.height !== Math.round(cssH * dpr)) {
      c.width = Math.round(cssW * dpr);
      c.height = Math.round(cssH * dpr);
    }
    const g = c.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, cssW, cssH);

    const left = 54, right = 10, top = this.legend ? 22 : 8, bottom = 20;
    const w = Math.max(10, cssW - left - right), h = Math.max(10, cssH - top - bottom);
    const xMax = this.xs.length ? this.xs[this.xs.length - 1] : Date.now() / 1000;
    const xMin = xMax - this.window + 1;
    let yMax = 0;
    for (const ys of this.ys) for (const y of ys) if (y != null && y > yMax) yMax = y;
    for (const l of this.hlines) if (l.value > yMax) yMax = l.value;
    yMax = 4 * (yMax > 0 ? this.step(yMax * 1.05) : 1);
    const X = (x) => left + ((x - xMin) / Math.max(1, this.window - 1)) * w;
    const Y = (y) => top + h - (y / yMax) * h;

    // Grid and axes.
    g.font = "11px system-ui, sans-serif";
    g.strokeStyle = "#e2e5ea";
    g.fillStyle = "#667085";
    g.lineWidth = 1;
    g.textAlign = "right";
    g.textBaseline = "middle";
    for (let i = 0; i <= 4; i++) {
      const v = (yMax * i) / 4;
      const y = Math.round(Y(v)) + 0.5;
      g.beginPath();
      g.moveTo(left, y);
      g.lineTo(left + w, y);
      g.stroke();
      g.fillText(this.format(v), left - 6, y);
    }
    g.textAlign = "center";
    g.textBaseline = "top";
    for (const [label, x] of [[`-${this.window}s`, xMin], [`-${Math.round(this.window / 2)}s`, xMin + this.window / 2], ["now", xMax]]) {
      g.fillText(label, Math.min(left + w - 12, Math.max(left + 12, X(x))), top + h + 5);
    }

    // Reference lines.
    for (const l of this.hlines) {
      const y = Math.round(Y(l.value)) + 0.5;
      g.strokeStyle = l.color;
      g.setLineDash([6, 4]);
      g.beginPath();
      g.moveTo(left, y);
      g.lineTo(left + w, y);
      g.stroke();
      g.setLineDash([]);
    }

    // Series.
    let points = 0;
    this.series.forEach((s, k) => {
      const ys = this.ys[k] || [];
      g.strokeStyle = s.color;
      g.fillStyle = s.color;
      g.lineWidth = 2;
      g.setLineDash(s.dash || []);
      g.beginPath();
      let open = false;
      for (let i = 0; i < ys.length; i++) {
        const y = ys[i];
        if (y == null || this.xs[i] < xMin) {
          open = false;
          continue;
        }
        points++;
        const px = X(this.xs[i]), py = Y(y);
        if (open) {
          g.lineTo(px, py);
        } else {
          g.moveTo(px, py);
          // A lone point still shows.
          g.fillRect(px - 1.5, py - 1.5, 3, 3);
          open = true;
        }
      }
      g.stroke();
      g.setLineDash([]);
    });

    // Legend.
    if (this.legend) {
      g.textAlign = "left";
      g.textBaseline = "middle";
      let x = left;
      const items = this.series.map((s) => ({ name: s.name, color: s.color }))
        .concat(this.hlines.map((l) => ({ name: l.name, color: l.color })));
      for (const it of items) {
        g.fillStyle = it.color;
        g.fillRect(x, 7, 10, 3);
        g.fillStyle = "#1d2330";
        g.fillText(it.name, x + 14, 9);
        x += 24 + g.measureText(it.name).width;
      }
      g.fillStyle = "#667085";
      for (const note of this.notes) {
        g.fillText(note, x, 9);
        x += 14 + g.measureText(note).width;
      }
    }

    const first = this.ys[0] || [];
    let sum = 0, last = "";
    for (const y of first) {
      if (y != null) {
        sum += y;
        last = String(y);
      }
    }
    this.draws++;
    c.dataset.points = String(points);
    c.dataset.sum = String(sum);
    c.dataset.last = last;
    c.dataset.draws = String(this.draws);
  }
}
