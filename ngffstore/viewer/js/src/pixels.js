// Multiscale images: levels opened on demand, regions read from chunks, channels composited the way
// ngffstore renders a PNG (ngffstore/image/render.py): each channel scaled by its omero window,
// coloured, added, clipped.
import { ViewerError, join, ngffOf, openArray, readGroup, zarr } from "./store.js";

const DEFAULT_COLORS = ["FFFFFF", "00FF00", "FF0000", "0000FF", "FF00FF", "FFFF00", "00FFFF"];

function parseColor(hex, i) {
  const text = String(hex || DEFAULT_COLORS[i % DEFAULT_COLORS.length]).replace(/^#/, "").padStart(6, "0");
  return [0, 2, 4].map((k) => parseInt(text.slice(k, k + 2), 16) / 255);
}

export class MultiscaleImage {
  // path: the image group inside the collection; format: 2 or 3 when known (from the index)
  static async open(store, path, format) {
    const group = await readGroup(store, path, format);
    const meta = ngffOf(group.attrs);
    if (!meta.multiscales || !meta.multiscales.length) {
      throw new ViewerError(`${store.href(path)} is not an OME-Zarr image (no multiscales in its attributes)`);
    }
    const image = new this(store, path, group.format, meta);
    image.levels[0].array = await openArray(store, join(path, image.levels[0].path), group.format);
    image.shape = image.levels[0].array.shape;
    const size = (a) => (image.axes.includes(a) ? image.shape[image.axes.indexOf(a)] : 1);
    // the plane shown, in level-0 indexes: the middle z and the first t, as ngffstore's PNGs
    image.plane = { z: Math.floor(size("z") / 2), t: 0 };
    image.sizeZ = size("z");
    image.sizeT = size("t");
    return image;
  }

  constructor(store, path, format, meta) {
    this.store = store;
    this.path = path;
    this.format = format;
    this.meta = meta;
    const ms = meta.multiscales[0];
    this.name = ms.name || path;
    this.axes = (ms.axes || []).map((a) => (typeof a === "string" ? a : a.name)).join("");
    if (!this.axes.includes("y") || !this.axes.includes("x")) {
      throw new ViewerError(`${store.href(path)}: axes ${this.axes || "(none)"} have no y and x`);
    }
    const scaleOf = (d) => (d.coordinateTransformations || []).find((t) => t.type === "scale")?.scale;
    const base = scaleOf(ms.datasets[0]);
    const ix = this.axes.indexOf("x");
    this.levels = ms.datasets.map((d) => {
      const s = scaleOf(d);
      const factor = s && base ? s[ix] / base[ix] : 1;
      return { path: d.path, factor, array: null, opening: null };
    });
    this.levels.forEach((l, i) => { if (i > 0 && l.factor <= 1) l.factor = 2 ** i; });
    const omero = meta.omero?.channels || [];
    const nc = this.axes.includes("c") ? undefined : 1;
    this.channels = (nc === 1 ? [omero[0] || {}] : omero).map((ch, i) => ({
      label: ch.label || `channel ${i}`,
      rgb: parseColor(ch.color, i),
      color: String(ch.color || DEFAULT_COLORS[i % DEFAULT_COLORS.length]).replace(/^#/, ""),
      window: ch.window && ch.window.end > ch.window.start ? [ch.window.start, ch.window.end] : null,
      active: ch.active !== false,
    }));
  }

  get width() { return this.shape[this.axes.indexOf("x")]; }
  get height() { return this.shape[this.axes.indexOf("y")]; }
  get sizeC() { return this.axes.includes("c") ? this.shape[this.axes.indexOf("c")] : 1; }

  async level(i) {
    const level = this.levels[i];
    if (level.array) return level.array;
    level.opening ||= openArray(this.store, join(this.path, level.path), this.format);
    level.array = await level.opening;
    return level.array;
  }

  // Fill in channels the omero block does not list, and auto windows from the lowest level.
  async prepareChannels() {
    while (this.channels.length < this.sizeC) {
      const i = this.channels.length;
      this.channels.push({ label: `channel ${i}`, rgb: parseColor(null, i), color: DEFAULT_COLORS[i % 7], window: null, active: true });
    }
    this.channels = this.channels.slice(0, this.sizeC);
    const missing = this.channels.map((ch, c) => (ch.window ? -1 : c)).filter((c) => c >= 0);
    if (!missing.length) return;
    const low = this.levels.length - 1;
    const arr = await this.level(low);
    const [h, w] = [arr.shape[this.axes.indexOf("y")], arr.shape[this.axes.indexOf("x")]];
    for (const c of missing) {
      const plane = await this.read(low, c, 0, 0, w, h);
      this.channels[c].window = percentileWindow(plane.data);
    }
  }

  // One channel of a region of level i, in that level's pixels: {data, width, height}.
  async read(i, c, x0, y0, x1, y1) {
    const arr = await this.level(i);
    const selection = [...this.axes].map((a, k) => {
      if (a === "c") return c;
      // a level with fewer z planes (downsampled in z) shows the one holding level 0's plane
      if (a === "z") return Math.min(arr.shape[k] - 1, Math.floor((this.plane.z * arr.shape[k]) / this.shape[k]));
      if (a === "t") return Math.min(arr.shape[k] - 1, this.plane.t);
      if (a === "y") return zarr.slice(y0, y1);
      if (a === "x") return zarr.slice(x0, x1);
      return 0;
    });
    let out;
    try {
      out = await zarr.get(arr, selection);
    } catch (err) {
      throw new ViewerError(`cannot read ${this.store.href(join(this.path, this.levels[i].path))}: ${err.message}`);
    }
    return { data: out.data, width: x1 - x0, height: y1 - y0, stride: out.stride };
  }

  levelShape(arr) {
    return [arr.shape[this.axes.indexOf("y")], arr.shape[this.axes.indexOf("x")]];
  }

  // RGBA of a region of level i ([x0, x1) x [y0, y1) in that level's pixels) into `out` (row
  // length `outWidth`), the active channels composited.
  async render(i, x0, y0, x1, y1, out, outWidth) {
    const active = this.channels.map((ch, c) => (ch.active ? c : -1)).filter((c) => c >= 0);
    const planes = await Promise.all(active.map((c) => this.read(i, c, x0, y0, x1, y1)));
    composite(planes, active.map((c) => this.channels[c]), x1 - x0, y1 - y0, out, outWidth);
  }
}

export function composite(planes, channels, w, h, out, outWidth = w) {
  const acc = new Float64Array(w * h * 3);
  planes.forEach((plane, k) => {
    const ch = channels[k];
    const bool = plane.data instanceof zarr.BoolArray;
    const [lo, hi] = bool ? [0, 1] : ch.window || [0, 1];
    const span = hi - lo;
    const [r, g, b] = ch.rgb;
    const [sy, sx] = plane.stride || [w, 1];
    const data = plane.data;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const raw = bool ? (data.get(y * sy + x * sx) ? 1 : 0) : Number(data[y * sy + x * sx]);
        let v = (raw - lo) / span;
        if (!(v > 0)) v = 0; else if (v > 1) v = 1;
        const o = (y * w + x) * 3;
        acc[o] += v * r;
        acc[o + 1] += v * g;
        acc[o + 2] += v * b;
      }
    }
  });
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const a = (y * w + x) * 3;
      const o = (y * outWidth + x) * 4;
      for (let k = 0; k < 3; k++) {
        const v = acc[a + k];
        out[o + k] = Math.floor((v > 1 ? 1 : v < 0 ? 0 : v) * 255 + 0.5);
      }
      out[o + 3] = 255;
    }
  }
}

function percentileWindow(data) {
  const values = Array.from(data, Number).filter(Number.isFinite).sort((a, b) => a - b);
  if (!values.length) return [0, 1];
  const at = (p) => {
    const pos = (p / 100) * (values.length - 1);
    const i = Math.floor(pos);
    return values[i] + (values[Math.min(i + 1, values.length - 1)] - values[i]) * (pos - i);
  };
  let [lo, hi] = [at(0.5), at(99.5)];
  if (hi <= lo) [lo, hi] = [values[0], values[values.length - 1]];
  if (hi <= lo) hi = lo + 1;
  return [lo, hi];
}

// Label images: value -> RGBA from image-label colours (a hashed colour otherwise; 0 clear).
export class LabelImage extends MultiscaleImage {
  constructor(store, path, format, meta) {
    super(store, path, format, meta);
    this.colors = new Map();
    for (const entry of meta.imageLabel?.colors || []) {
      const value = entry["label-value"];
      if (value !== undefined && entry.rgba) this.colors.set(Number(value), entry.rgba);
    }
  }

  colorOf(value) {
    const known = this.colors.get(value);
    if (known) return known;
    if (value === 0) return [0, 0, 0, 0];
    const h = Math.imul(value ^ 0x9e3779b9, 0x85ebca6b) >>> 0;
    return [h & 255, (h >>> 8) & 255, (h >>> 16) & 255, 255];
  }

  async render(i, x0, y0, x1, y1, out, outWidth) {
    const plane = await this.read(i, 0, x0, y0, x1, y1);
    const [sy, sx] = plane.stride;
    const w = x1 - x0;
    const h = y1 - y0;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const rgba = this.colorOf(Number(plane.data[y * sy + x * sx]));
        out.set(rgba, (y * outWidth + x) * 4);
      }
    }
  }
}
