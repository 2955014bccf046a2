// The static viewer `ngffstore view` publishes with a collection: a catalogue from the collection
// index, an image page (deep zoom, channels, labels, ROI layers) and a plate page, routed by the
// URL hash (#/, #/image/PATH, #/plate/PATH). Everything is read straight from the store.
import "ol/ol.css";
import "./viewer.css";
import GeoJSON from "ol/format/GeoJSON.js";
import WKB from "ol/format/WKB.js";
import WKT from "ol/format/WKT.js";
import Feature from "ol/Feature.js";
import { fromExtent } from "ol/geom/Polygon.js";
import { HttpStore, ViewerError, join, ngffOf, readGroup } from "./store.js";
import { LabelImage, MultiscaleImage } from "./pixels.js";
import {
  createMap, outlineStyle, pixelProjection, showRegion, tileLayer, tileSource, vectorLayer,
} from "./deepzoom.js";

const config = JSON.parse(document.getElementById("ngffstore-viewer-config")?.textContent || "{}");
const params = new URLSearchParams(location.search);
const dataUrl = new URL(params.get("data") || config.data || ".", location.href).href;
const store = new HttpStore(dataUrl);
const app = document.getElementById("app");
const state = { index: null, route: 0 };

// Test and scripting hooks: the current map and the errors shown.
const hooks = (window.ngffstoreViewer = { map: null, errors: [], store, showRegion: null });

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "style" && typeof v === "object") Object.assign(node.style, v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const child of children.flat()) {
    if (child == null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function showError(err, where = app) {
  const message = err instanceof ViewerError ? err.message : `unexpected error: ${err?.message || err}`;
  if (!hooks.errors.includes(message)) hooks.errors.push(message);
  let box = where.querySelector(":scope > .ngff-errors");
  if (!box) {
    box = el("div", { class: "ngff-errors" });
    where.prepend(box);
  }
  if ([...box.children].some((p) => p.textContent === message)) return;
  box.append(el("p", { class: "ngff-error", role: "alert" }, message));
  console.warn(`ngffstore viewer: ${message}`);
}

window.addEventListener("unhandledrejection", (e) => { e.preventDefault(); showError(e.reason); });
window.addEventListener("error", (e) => { showError(e.error || e.message); });

// ----- the index ---------------------------------------------------------------------------

async function loadIndex() {
  state.index ||= store.parquet(config.index || "ngffstore-index.parquet").then((rows) => rows.map(normaliseRow));
  return state.index;
}

function normaliseRow(row) {
  const out = { ...row, kv: {}, roiCounts: {} };
  for (const [k, v] of Object.entries(row)) {
    if (typeof v === "bigint") out[k] = Number(v);
    if (k.startsWith("kv.") && v != null) out.kv[k.slice(3)] = typeof v === "bigint" ? Number(v) : v;
    if (k.startsWith("rois.") && v != null) out.roiCounts[k.slice(5)] = Number(v);
  }
  out.shape = (row.shape || []).map(Number);
  out.channels = row.channels || [];
  out.tags = row.tags || [];
  out.labels = row.labels || [];
  out.zarr_format = Number(row.zarr_format) || undefined;
  return out;
}

async function rowOf(path) {
  try {
    return (await loadIndex()).find((r) => r.path === path);
  } catch {
    return undefined; // an image page works without the index
  }
}

function imageHref(path, format) {
  return `#/image/${path}${format ? `?zarr=${format}` : ""}`;
}

// ----- thumbnails (the lowest pyramid level) -----------------------------------------------

const thumbQueue = [];
let thumbsRunning = 0;

function queueThumbnail(task) {
  thumbQueue.push(task);
  pumpThumbnails();
}

function pumpThumbnails() {
  while (thumbsRunning < 6 && thumbQueue.length) {
    const task = thumbQueue.shift();
    thumbsRunning++;
    task().finally(() => { thumbsRunning--; pumpThumbnails(); });
  }
}

async function drawThumbnail(canvas, path, format, size = 96) {
  const image = await MultiscaleImage.open(store, path, format);
  const low = image.levels.length - 1;
  const arr = low === 0 ? image.levels[0].array : await image.level(low);
  await image.prepareChannels();
  const [h, w] = image.levelShape(arr);
  const rgba = new Uint8ClampedArray(w * h * 4);
  await image.render(low, 0, 0, w, h, rgba, w);
  const scale = Math.min(1, size / Math.max(w, h));
  canvas.width = Math.max(1, Math.round(w * scale));
  canvas.height = Math.max(1, Math.round(h * scale));
  const full = new OffscreenCanvas(w, h);
  full.getContext("2d").putImageData(new ImageData(rgba, w, h), 0, 0);
  const ctx = canvas.getContext("2d");
  ctx.imageSmoothingQuality = "high";
  ctx.drawImage(full, 0, 0, canvas.width, canvas.height);
  canvas.dataset.state = "ready";
}

function lazyThumbnail(path, format, size) {
  const canvas = el("canvas", { class: "ngff-thumb", width: size, height: size, "data-state": "waiting", title: path });
  const observer = new IntersectionObserver((entries) => {
    if (!entries.some((e) => e.isIntersecting)) return;
    observer.disconnect();
    canvas.dataset.state = "loading";
    queueThumbnail(() => drawThumbnail(canvas, path, format, size).catch((err) => {
      canvas.dataset.state = "error";
      canvas.replaceWith(el("span", { class: "ngff-thumb ngff-thumb-error", title: err.message }, "unreadable"));
      showError(err);
    }));
  }, { rootMargin: "200px" });
  observer.observe(canvas);
  return canvas;
}

// ----- catalogue ---------------------------------------------------------------------------

function formatValue(v) {
  if (v instanceof Date) return v.toISOString().slice(0, 10);
  if (typeof v === "number" && !Number.isInteger(v)) return String(Math.round(v * 1e6) / 1e6);
  return String(v);
}

async function catalogue() {
  const page = el("section", { class: "ngff-catalogue" });
  app.replaceChildren(page);
  page.append(el("h1", {}, config.title || "Collection"));
  let rows;
  try {
    rows = await loadIndex();
  } catch (err) {
    showError(err, page);
    return;
  }
  const plates = [...new Map(rows.filter((r) => r.plate_path).map((r) => [r.plate_path, r.plate || r.plate_path])).entries()];
  if (plates.length) {
    page.append(el("p", { class: "ngff-plates" }, "Plates: ",
      plates.map(([path, name]) => el("a", { href: `#/plate/${path}`, class: "ngff-plate-link" }, name))));
  }
  const filter = el("input", { type: "search", placeholder: "filter: name, kind, channel, key=value, tag…", class: "ngff-filter", "aria-label": "filter" });
  const count = el("span", { class: "ngff-count" });
  page.append(el("div", { class: "ngff-toolbar" }, filter, count));
  const body = el("tbody");
  page.append(el("table", { class: "ngff-table" },
    el("thead", {}, el("tr", {}, ["", "name", "kind", "shape", "channels", "key-values", "tags"].map((h) => el("th", {}, h)))),
    body));
  const trs = rows.map((row) => {
    const kvs = Object.entries(row.kv);
    const shape = `${row.axes || ""} ${row.shape.join(" × ")}${row.dtype ? ` ${row.dtype}` : ""}`;
    const where = row.kind === "plate-field" ? el("div", { class: "ngff-sub" },
      el("a", { href: `#/plate/${row.plate_path}` }, row.plate || row.plate_path), ` well ${row.well ?? ""} field ${row.field ?? ""}`) : null;
    const tr = el("tr", { class: "ngff-row", "data-path": row.path },
      el("td", {}, el("a", { href: imageHref(row.path, row.zarr_format) }, lazyThumbnail(row.path, row.zarr_format, 96))),
      el("td", {}, el("a", { href: imageHref(row.path, row.zarr_format), class: "ngff-name" }, row.name || row.path), el("div", { class: "ngff-sub" }, row.path), where),
      el("td", {}, row.kind || ""),
      el("td", {}, shape),
      el("td", {}, row.channels.join(", ")),
      el("td", { class: "ngff-kv" }, kvs.map(([k, v]) => el("div", {}, el("b", {}, k), " = ", formatValue(v)))),
      el("td", {}, row.tags.map((t) => el("span", { class: "ngff-tag" }, t))),
    );
    tr.dataset.text = [row.name, row.path, row.kind, row.plate, row.well, shape, ...row.channels, ...row.tags,
      ...kvs.map(([k, v]) => `${k}=${formatValue(v)}`), ...row.labels].join(" ").toLowerCase();
    return tr;
  });
  body.append(...trs);
  const apply = () => {
    const words = filter.value.toLowerCase().split(/\s+/).filter(Boolean);
    let shown = 0;
    for (const tr of trs) {
      const ok = words.every((w) => tr.dataset.text.includes(w));
      tr.hidden = !ok;
      shown += ok;
    }
    count.textContent = `${shown} of ${trs.length} images`;
  };
  filter.addEventListener("input", apply);
  apply();
}

// ----- image page --------------------------------------------------------------------------

function parseGeometry(value) {
  if (value == null) return null;
  if (typeof value === "string") return new WKT().readGeometry(value);
  if (value instanceof Uint8Array || value instanceof ArrayBuffer) return new WKB().readGeometry(value);
  if (typeof value === "object" && value.type) return new GeoJSON().readGeometry(value);
  return null;
}

// The colour of the most specific term (deepest in the ontology: "mitosis" under "nucleus").
function termColor(terms, ontology) {
  const depth = (t) => {
    let d = 0;
    for (let p = ontology[t]?.parent; p && d < 32; p = ontology[p]?.parent) d++;
    return d;
  };
  const coloured = (terms || []).filter((t) => ontology[t]?.color);
  if (!coloured.length) return "FFD700";
  return ontology[coloured.reduce((best, t) => (depth(t) > depth(best) ? t : best))].color;
}

async function readRoiLayer(image, name, info, ontology) {
  const files = (info.files || []).map((f) => (typeof f === "string" ? f : f.path));
  const tables = await Promise.all(files.map((f) => store.parquet(join(image.path, f))));
  const features = [];
  for (const row of tables.flat()) {
    const geometry = parseGeometry(row.geometry);
    if (!geometry) continue;
    geometry.scale(1, -1, [0, 0]); // level-0 pixels, y down -> map coordinates, y up
    const terms = Array.from(row.terms || []);
    const feature = new Feature({ geometry });
    feature.setProperties({ id: Number(row.id), terms, layer: name, author: row.author, kind: row.kind, area: Number(row.area) });
    feature.setStyle(outlineStyle(termColor(terms, ontology)));
    features.push(feature);
  }
  features.sort((a, b) => a.get("id") - b.get("id"));
  return features;
}

async function imagePage(path, query, route) {
  const page = el("section", { class: "ngff-image-page" });
  app.replaceChildren(page);
  const row = await rowOf(path);
  const format = Number(query.get("zarr")) || row?.zarr_format;
  const title = el("h1", {}, el("a", { href: "#/" }, config.title || "Collection"), " / ", row?.name || path);
  const side = el("aside", { class: "ngff-side" });
  const mapBox = el("div", { class: "ngff-map", "data-state": "opening" });
  page.append(title, el("div", { class: "ngff-viewer" }, mapBox, side));
  let image;
  try {
    image = await MultiscaleImage.open(store, path, format);
    await image.prepareChannels();
  } catch (err) {
    mapBox.dataset.state = "error";
    mapBox.replaceChildren(el("p", { class: "ngff-map-message" }, "This image cannot be shown."));
    showError(err, page);
    return;
  }
  if (route !== state.route) return;
  if (!row) title.lastChild.replaceWith(image.name);
  const world = { width: image.width, height: image.height, projection: pixelProjection(image.width, image.height) };
  const onError = (err) => { mapBox.dataset.tileErrors = String(Number(mapBox.dataset.tileErrors || 0) + 1); showError(err, page); };
  const map = createMap(mapBox, world);
  hooks.map = map;
  hooks.showRegion = (x, y, w, h) => showRegion(map, x, y, w, h);
  let imageLayer = tileLayer(tileSource(image, world, onError), "ngff-image");
  map.addLayer(imageLayer);
  const rebuildImage = () => {
    const next = tileLayer(tileSource(image, world, onError), "ngff-image");
    map.getLayers().setAt(map.getLayers().getArray().indexOf(imageLayer), next);
    imageLayer = next;
  };

  // facts
  const ns = image.meta.ngffstore;
  const facts = el("div", { class: "ngff-facts" },
    el("div", {}, `${image.axes} ${image.shape.join(" × ")} ${image.levels[0].array.dtype}, ${image.levels.length} level${image.levels.length > 1 ? "s" : ""}`),
    ns.metadata?.description ? el("div", {}, ns.metadata.description) : null,
    Object.entries(ns.metadata?.key_values || {}).map(([k, v]) => el("div", { class: "ngff-kv" }, el("b", {}, k), " = ", formatValue(v))),
    (ns.metadata?.tags || []).map((t) => el("span", { class: "ngff-tag" }, t)));
  side.append(facts);

  // channels
  const channelBox = el("fieldset", { class: "ngff-channels" }, el("legend", {}, "Channels"));
  image.channels.forEach((ch, c) => {
    const box = el("input", { type: "checkbox", checked: ch.active, "data-channel": c, onchange: (e) => { ch.active = e.target.checked; rebuildImage(); } });
    channelBox.append(el("label", { class: "ngff-channel" }, box,
      el("span", { class: "ngff-swatch", style: { background: `#${ch.color}` } }), ` ${ch.label} `,
      el("span", { class: "ngff-sub" }, ch.window ? `${formatValue(ch.window[0])}–${formatValue(ch.window[1])}` : "")));
  });
  side.append(channelBox);

  // z and t: the plane shown (label overlays follow)
  const labelLayers = new Map();
  const planeBox = el("fieldset", { class: "ngff-planes" }, el("legend", {}, "Plane"));
  for (const [axis, size] of [["z", image.sizeZ], ["t", image.sizeT]]) {
    if (size <= 1) continue;
    const value = el("span", { class: "ngff-sub" }, `${image.plane[axis]} / ${size - 1}`);
    const slider = el("input", { type: "range", min: 0, max: size - 1, value: image.plane[axis], "data-axis": axis });
    slider.addEventListener("change", () => {
      image.plane[axis] = Number(slider.value);
      value.textContent = `${image.plane[axis]} / ${size - 1}`;
      rebuildImage();
      for (const [labels, layer] of labelLayers.values()) {
        labels.plane[axis] = image.plane[axis];
        layer.setSource(tileSource(labels, world, onError));
      }
    });
    planeBox.append(el("label", {}, `${axis} `, slider, " ", value));
  }
  if (planeBox.children.length > 1) side.append(planeBox);

  // labels: names from the index row (no probe of labels/ when the index says there are none)
  let labelNames = row ? row.labels : null;
  if (labelNames === null) {
    try {
      const group = await readGroup(store, join(path, "labels"), image.format);
      labelNames = ngffOf(group.attrs).labels || [];
    } catch {
      labelNames = [];
    }
  }
  if (labelNames.length) {
    const labelBox = el("fieldset", { class: "ngff-label-panel" }, el("legend", {}, "Labels"));
    for (const name of labelNames) {
      const box = el("input", { type: "checkbox", "data-label": name });
      box.addEventListener("change", async () => {
        try {
          if (!labelLayers.has(name)) {
            const labels = await LabelImage.open(store, join(path, "labels", name), image.format);
            labels.plane = { ...image.plane };
            const layer = tileLayer(tileSource(labels, world, onError), "ngff-labels", 0.5);
            layer.setZIndex(1);
            labelLayers.set(name, [labels, layer]);
            map.addLayer(layer);
          }
          labelLayers.get(name)[1].setVisible(box.checked);
        } catch (err) {
          box.checked = false;
          showError(err, page);
        }
      });
      labelBox.append(el("label", {}, box, ` ${name}`));
    }
    side.append(labelBox);
  }

  // ROI layers
  const rois = ns.rois;
  if (rois && Object.keys(rois.layers || {}).length) {
    const ontology = rois.terms || {};
    const roiBox = el("fieldset", { class: "ngff-roi-panel" }, el("legend", {}, "ROI layers"));
    const legend = el("div", { class: "ngff-legend" }, Object.entries(ontology).map(([t, info]) =>
      el("span", { class: "ngff-term" }, el("span", { class: "ngff-swatch", style: { background: `#${info.color}` } }), ` ${t}`)));
    roiBox.append(legend);
    const list = el("table", { class: "ngff-roi-list" },
      el("thead", {}, el("tr", {}, ["layer", "id", "terms", "area (px)", "author"].map((h) => el("th", {}, h)))));
    const listBody = el("tbody");
    list.append(listBody);
    for (const [name, info] of Object.entries(rois.layers)) {
      const box = el("input", { type: "checkbox", checked: true, "data-roi-layer": name });
      roiBox.append(el("label", {}, box, ` ${name} `, el("span", { class: "ngff-sub" }, `${info.kind || ""}, ${info.count ?? "?"} ROIs`)));
      readRoiLayer(image, name, info, ontology).then((features) => {
        const layer = vectorLayer(features, undefined, "ngff-rois");
        layer.setZIndex(2);
        layer.set("roiLayer", name);
        map.addLayer(layer);
        box.addEventListener("change", () => layer.setVisible(box.checked));
        for (const f of features) {
          const ext = f.getGeometry().getExtent();
          listBody.append(el("tr", {
            class: "ngff-roi", "data-layer": name, "data-id": f.get("id"),
            onclick: () => map.getView().fit(ext, { padding: [40, 40, 40, 40], maxZoom: undefined, duration: 250 }),
          },
          el("td", {}, name), el("td", {}, f.get("id")),
          el("td", {}, f.get("terms").map((t) => el("span", { class: "ngff-term" },
            el("span", { class: "ngff-swatch", style: { background: `#${ontology[t]?.color || "FFD700"}` } }), ` ${t}`))),
          el("td", {}, formatValue(f.get("area"))), el("td", {}, f.get("author") || "")));
        }
        roiBox.dataset.loaded = String(Number(roiBox.dataset.loaded || 0) + 1);
      }, (err) => showError(err, page));
    }
    side.append(roiBox, el("div", { class: "ngff-roi-scroll" }, list));
  }

  const region = query.get("region");
  if (region) {
    const [x, y, w, h] = region.split(",").map(Number);
    showRegion(map, x, y, w, h);
  }
}

// ----- plate page --------------------------------------------------------------------------

async function platePage(path, query, route) {
  const page = el("section", { class: "ngff-plate-page" });
  app.replaceChildren(page);
  const title = el("h1", {}, el("a", { href: "#/" }, config.title || "Collection"), " / ", path);
  page.append(title);
  const index = await loadIndex().catch(() => []);
  const known = Number(query.get("zarr")) || index.find((r) => r.plate_path === path)?.zarr_format;
  let group;
  try {
    group = await readGroup(store, path, known); // the format from the index: no probe
  } catch (err) {
    showError(err, page);
    return;
  }
  const meta = ngffOf(group.attrs);
  const plate = meta.plate;
  if (!plate) {
    showError(new ViewerError(`${store.href(path)} is not an OME-Zarr plate (no plate in its attributes)`), page);
    return;
  }
  title.lastChild.replaceWith(plate.name || path);
  const rows = plate.rows.map((r) => r.name);
  const cols = plate.columns.map((c) => c.name);
  const wellName = (r, c) => `${r}${String(c).padStart(2, "0")}`;
  const fieldsOf = (wellPath) => index.filter((r) => r.plate_path === path && r.path.startsWith(`${path}/${wellPath}/`));

  // the grid of wells (HTML: every well, its fields as links)
  const grid = el("table", { class: "ngff-plate-grid" });
  grid.append(el("tr", {}, el("th", {}), cols.map((c) => el("th", {}, c))));
  const wellsAt = new Map(plate.wells.map((w) => [`${w.rowIndex},${w.columnIndex}`, w]));
  rows.forEach((r, ri) => {
    grid.append(el("tr", {}, el("th", {}, r), cols.map((c, ci) => {
      const well = wellsAt.get(`${ri},${ci}`);
      if (!well) return el("td", { class: "ngff-no-well" });
      const fields = fieldsOf(well.path);
      const first = fields[0]?.path || `${path}/${well.path}/0`;
      return el("td", { class: "ngff-well", "data-well": wellName(r, c) },
        el("div", { class: "ngff-well-name" }, wellName(r, c)),
        // without a stored preview, each well shows its first field (its lowest level)
        meta.ngffstore.preview ? null : el("a", { href: imageHref(first, fields[0]?.zarr_format || group.format) },
          lazyThumbnail(first, fields[0]?.zarr_format || group.format, 64)),
        fields.length
          ? fields.map((f) => el("a", { href: imageHref(f.path, f.zarr_format), class: "ngff-field" }, `field ${f.field ?? ""}`))
          : el("a", { href: imageHref(`${path}/${well.path}/0`, group.format), class: "ngff-field" }, "field 0"));
    })));
  });

  const previewInfo = meta.ngffstore.preview;
  const mapBox = el("div", { class: "ngff-map", "data-state": "opening" });
  page.append(el("div", { class: "ngff-viewer" }, mapBox, el("aside", { class: "ngff-side" }, grid)));
  if (!previewInfo) {
    mapBox.replaceWith(el("p", { class: "ngff-note" },
      "This plate has no stored preview ('ngffstore plate preview PLATE' writes one): each well shows its first field."));
    return;
  }
  let preview;
  try {
    preview = await MultiscaleImage.open(store, join(path, previewInfo.path || "preview"), group.format);
    await preview.prepareChannels();
  } catch (err) {
    mapBox.dataset.state = "error";
    mapBox.replaceChildren(el("p", { class: "ngff-map-message" }, "The plate preview cannot be shown."));
    showError(err, page);
    return;
  }
  if (route !== state.route) return;
  const world = { width: preview.width, height: preview.height, projection: pixelProjection(preview.width, preview.height) };
  const map = createMap(mapBox, world);
  hooks.map = map;
  hooks.showRegion = (x, y, w, h) => showRegion(map, x, y, w, h);
  map.addLayer(tileLayer(tileSource(preview, world, (err) => showError(err, page)), "ngff-image"));
  const layout = preview.meta.ngffstore.plate_preview || {};
  const features = [];
  for (const well of layout.wells || []) {
    for (const field of well.fields || []) {
      const [x, y, w, h] = field.box;
      const f = new Feature({ geometry: fromExtent([x, -(y + h), x + w, -y]) });
      f.setProperties({ href: imageHref(`${path}/${well.path}/${field.path}`, group.format), well: well.name });
      f.setStyle(outlineStyle("FFFFFF", { width: 1, fill: 0.01 }));
      features.push(f);
    }
    const [x, y, w, h] = well.box;
    const f = new Feature({ geometry: fromExtent([x, -(y + h), x + w, -y]) });
    f.setProperties({ well: well.name });
    f.setStyle(outlineStyle("FFD700", { width: 2, fill: 0, label: well.name }));
    features.push(f);
  }
  const overlay = vectorLayer(features, undefined, "ngff-wells");
  overlay.setZIndex(2);
  map.addLayer(overlay);
  mapBox.dataset.wells = String((layout.wells || []).length);
}

// ----- routing -----------------------------------------------------------------------------

async function route() {
  const route = ++state.route;
  hooks.map?.setTarget(null);
  hooks.map = null;
  hooks.showRegion = null;
  const hash = decodeURIComponent(location.hash.replace(/^#\/?/, ""));
  const [where, q] = hash.split("?");
  const query = new URLSearchParams(q || "");
  try {
    if (where.startsWith("image/")) await imagePage(where.slice(6).replace(/\/+$/, ""), query, route);
    else if (where.startsWith("plate/")) await platePage(where.slice(6).replace(/\/+$/, ""), query, route);
    else await catalogue();
  } catch (err) {
    showError(err);
  }
}

window.addEventListener("hashchange", route);
route();
