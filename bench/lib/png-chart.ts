import { PNG } from 'pngjs';

/**
 * Line charts as a PNG, with pngjs and nothing else (no browser, no canvas): stacked panels that
 * share an x axis, each with its own y range, grid lines, labels in a 3x5 pixel font, and one or
 * more series. Enough for the soak's RSS / handles / loop-lag plot.
 */
export interface Series {
  label: string;
  color: [number, number, number];
  points: [number, number][];
}

export interface Panel {
  title: string;
  series: Series[];
  /** Lower bound of the y axis (default 0). */
  yMin?: number;
}

const W = 900;
const PANEL_H = 200;
const LEFT = 70;
const RIGHT = 20;
const TOP = 24;
const GAP = 40;
const SCALE = 2;

// 3x5 glyphs, rows top to bottom, 3 bits each (4 = left column).
const FONT: Record<string, number[]> = {
  '0': [7, 5, 5, 5, 7], '1': [2, 6, 2, 2, 7], '2': [7, 1, 7, 4, 7], '3': [7, 1, 7, 1, 7], '4': [5, 5, 7, 1, 1],
  '5': [7, 4, 7, 1, 7], '6': [7, 4, 7, 5, 7], '7': [7, 1, 2, 2, 2], '8': [7, 5, 7, 5, 7], '9': [7, 5, 7, 1, 7],
  A: [2, 5, 7, 5, 5], B: [6, 5, 6, 5, 6], C: [7, 4, 4, 4, 7], D: [6, 5, 5, 5, 6], E: [7, 4, 6, 4, 7], F: [7, 4, 6, 4, 4],
  G: [7, 4, 5, 5, 7], H: [5, 5, 7, 5, 5], I: [7, 2, 2, 2, 7], K: [5, 5, 6, 5, 5], L: [4, 4, 4, 4, 7], M: [5, 7, 7, 5, 5],
  N: [6, 5, 5, 5, 5], O: [7, 5, 5, 5, 7], P: [7, 5, 7, 4, 4], R: [6, 5, 6, 5, 5], S: [7, 4, 7, 1, 7], T: [7, 2, 2, 2, 2],
  U: [5, 5, 5, 5, 7], V: [5, 5, 5, 5, 2], W: [5, 5, 7, 7, 5], X: [5, 5, 2, 5, 5], Y: [5, 5, 2, 2, 2], Z: [7, 1, 2, 4, 7],
  ' ': [0, 0, 0, 0, 0], '.': [0, 0, 0, 0, 2], ':': [0, 2, 0, 2, 0], '-': [0, 0, 7, 0, 0], '/': [1, 1, 2, 4, 4],
  '(': [1, 2, 2, 2, 1], ')': [4, 2, 2, 2, 4], '%': [5, 1, 2, 4, 5], '=': [0, 7, 0, 7, 0], ',': [0, 0, 0, 2, 4],
};

export function renderChart(panels: Panel[], xLabel: string): Buffer {
  const height = TOP + panels.length * (PANEL_H + GAP) + 10;
  const png = new PNG({ width: W, height });
  png.data.fill(255);
  const set = (x: number, y: number, [r, g, b]: [number, number, number]) => {
    if (x < 0 || y < 0 || x >= W || y >= height) return;
    const i = (Math.round(y) * W + Math.round(x)) * 4;
    png.data[i] = r; png.data[i + 1] = g; png.data[i + 2] = b; png.data[i + 3] = 255;
  };
  const text = (s: string, x: number, y: number, color: [number, number, number] = [40, 40, 40]) => {
    let cx = x;
    for (const ch of s.toUpperCase()) {
      const rows = FONT[ch] ?? FONT[' '];
      rows.forEach((bits, ry) => { for (let rx = 0; rx < 3; rx++) if (bits & (4 >> rx)) for (let a = 0; a < SCALE; a++) for (let b = 0; b < SCALE; b++) set(cx + rx * SCALE + a, y + ry * SCALE + b, color); });
      cx += 4 * SCALE;
    }
  };
  const line = (x0: number, y0: number, x1: number, y1: number, c: [number, number, number]) => {
    const n = Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0), 1);
    for (let k = 0; k <= n; k++) set(x0 + ((x1 - x0) * k) / n, y0 + ((y1 - y0) * k) / n, c);
  };
  const xs = panels.flatMap((p) => p.series.flatMap((s) => s.points.map(([x]) => x)));
  const xMin = Math.min(...xs, 0);
  const xMax = Math.max(...xs, xMin + 1);
  const plotW = W - LEFT - RIGHT;
  panels.forEach((panel, i) => {
    const top = TOP + i * (PANEL_H + GAP);
    const ys = panel.series.flatMap((s) => s.points.map(([, y]) => y));
    const yMin = panel.yMin ?? 0;
    const yMax = niceMax(Math.max(...ys, yMin + 1e-9));
    text(panel.title, LEFT, top - 16);
    let lx = LEFT + panel.title.length * 8 + 24;
    for (const s of panel.series) {
      if (panel.series.length > 1) { line(lx, top - 12, lx + 14, top - 12, s.color); text(s.label, lx + 18, top - 16, s.color); lx += 18 + s.label.length * 8 + 20; }
    }
    for (let g = 0; g <= 4; g++) {
      const y = top + PANEL_H - (g / 4) * PANEL_H;
      line(LEFT, y, W - RIGHT, y, g === 0 ? [120, 120, 120] : [225, 225, 225]);
      const v = yMin + ((yMax - yMin) * g) / 4;
      const label = formatTick(v);
      text(label, LEFT - 6 - label.length * 8, y - 5);
    }
    line(LEFT, top, LEFT, top + PANEL_H, [120, 120, 120]);
    for (const s of panel.series) {
      let prev: [number, number] | null = null;
      for (const [x, y] of s.points) {
        const px = LEFT + ((x - xMin) / (xMax - xMin)) * plotW;
        const py = top + PANEL_H - ((y - yMin) / (yMax - yMin)) * PANEL_H;
        if (prev) line(prev[0], prev[1], px, py, s.color);
        prev = [px, py];
      }
    }
    if (i === panels.length - 1) {
      for (let g = 0; g <= 5; g++) {
        const v = xMin + ((xMax - xMin) * g) / 5;
        const label = formatTick(v);
        text(label, LEFT + (g / 5) * plotW - label.length * 4, top + PANEL_H + 6);
      }
      text(xLabel, W - RIGHT - xLabel.length * 8, top + PANEL_H + 20);
    }
  });
  return PNG.sync.write(png);
}

function niceMax(v: number): number {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

const formatTick = (v: number): string => (Math.abs(v) >= 100 || Number.isInteger(v) ? String(Math.round(v)) : v.toFixed(1));
