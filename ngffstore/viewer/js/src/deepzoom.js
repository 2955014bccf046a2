// Deep zoom with OpenLayers over level-0 pixel coordinates: x = column, y = row (drawn as -y, OL's
// y axis points up). Tiles are read from the pyramid level OpenLayers picks for the resolution.
import OlMap from "ol/Map.js";
import View from "ol/View.js";
import TileLayer from "ol/layer/Tile.js";
import VectorLayer from "ol/layer/Vector.js";
import DataTileSource from "ol/source/DataTile.js";
import VectorSource from "ol/source/Vector.js";
import TileGrid from "ol/tilegrid/TileGrid.js";
import Projection from "ol/proj/Projection.js";
import { defaults as defaultControls } from "ol/control/defaults.js";
import { Fill, Stroke, Style, Text } from "ol/style.js";

export function pixelProjection(width, height) {
  return new Projection({ code: `ngff-pixels-${width}x${height}`, units: "pixels", extent: [0, -height, width, 0] });
}

function tileSizeOf(image) {
  const arr = image.levels[0].array;
  const [cy, cx] = [arr.chunks[image.axes.indexOf("y")], arr.chunks[image.axes.indexOf("x")]];
  const size = Math.max(cy, cx);
  return Math.min(512, Math.max(128, size));
}

// A tile source over `image` (a MultiscaleImage or LabelImage) placed on `world` (width, height of
// the image's level 0 on screen: a label image of another size is stretched onto it).
export function tileSource(image, world, onError) {
  const ts = tileSizeOf(image);
  const base = world.width / image.width;
  const resolutions = image.levels.map((l) => l.factor * base).reverse();
  const n = image.levels.length;
  const extent = [0, -world.height, world.width, 0];
  const tileGrid = new TileGrid({ extent, origin: [0, 0], resolutions, tileSize: [ts, ts] });
  return new DataTileSource({
    projection: world.projection,
    tileGrid,
    interpolate: false,
    transition: 0,
    wrapX: false,
    loader: async (z, x, y) => {
      const out = new Uint8ClampedArray(ts * ts * 4);
      try {
        const level = n - 1 - z;
        const arr = await image.level(level);
        const [h, w] = image.levelShape(arr);
        const [x0, y0] = [x * ts, y * ts];
        const [x1, y1] = [Math.min(w, x0 + ts), Math.min(h, y0 + ts)];
        if (x1 > x0 && y1 > y0) await image.render(level, x0, y0, x1, y1, out, ts);
      } catch (err) {
        onError(err);
      }
      // the canvas renderer draws images, not arrays (and putImageData keeps every value exact)
      const canvas = document.createElement("canvas");
      canvas.width = canvas.height = ts;
      canvas.getContext("2d").putImageData(new ImageData(out, ts, ts), 0, 0);
      return canvas;
    },
  });
}

export function createMap(target, world) {
  const extent = [0, -world.height, world.width, 0];
  const view = new View({
    projection: world.projection,
    extent,
    constrainOnlyCenter: true,
    showFullExtent: true,
    minResolution: 1 / 16,
    maxResolution: Math.max(world.width, world.height) / 64,
  });
  const map = new OlMap({ target, view, controls: defaultControls({ attribution: false, rotate: false }) });
  view.fit(extent, { padding: [8, 8, 8, 8] });
  target.dataset.state = "loading";
  map.on("loadstart", () => { target.dataset.state = "loading"; });
  map.on("rendercomplete", () => { target.dataset.state = "ready"; });
  map.on("pointermove", (e) => {
    const hit = map.getFeaturesAtPixel(e.pixel).some((f) => f.get("href"));
    map.getTargetElement().style.cursor = hit ? "pointer" : "";
  });
  map.on("singleclick", (e) => {
    const f = map.getFeaturesAtPixel(e.pixel).find((feature) => feature.get("href"));
    if (f) location.hash = f.get("href");
  });
  return map;
}

// Show the level-0 region [x, x + w) x [y, y + h) so that it fills the map.
export function showRegion(map, x, y, w, h) {
  map.getView().fit([x, -(y + h), x + w, -y], { size: map.getSize(), padding: [0, 0, 0, 0], nearest: false });
}

export function tileLayer(source, className, opacity = 1) {
  return new TileLayer({ source, className, opacity, preload: 0 });
}

const styles = new Map();

function hexRgba(hex, alpha) {
  const text = String(hex || "FFFF00").replace(/^#/, "").padStart(6, "0");
  const [r, g, b] = [0, 2, 4].map((k) => parseInt(text.slice(k, k + 2), 16));
  return `rgba(${r},${g},${b},${alpha})`;
}

export function outlineStyle(hex, { width = 2, fill = 0.15, label } = {}) {
  const key = `${hex}|${width}|${fill}|${label || ""}`;
  if (!styles.has(key)) {
    styles.set(key, new Style({
      stroke: new Stroke({ color: hexRgba(hex, 1), width }),
      fill: new Fill({ color: hexRgba(hex, fill) }),
      text: label ? new Text({
        text: label, font: "bold 14px sans-serif", fill: new Fill({ color: "#fff" }),
        stroke: new Stroke({ color: "#000", width: 3 }), overflow: true,
      }) : undefined,
    }));
  }
  return styles.get(key);
}

export function vectorLayer(features, style, className) {
  return new VectorLayer({ source: new VectorSource({ features }), style, className });
}
