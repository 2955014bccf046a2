// Reading a published collection over HTTP(S): documents, chunks and Parquet files.
//
// One GET per object, cached (a document zarrita asks for again costs nothing); a missing chunk is
// whatever the host answers for it (404, or 403 on hosts without listings: S3 without ListBucket,
// most CDNs) and reads as the fill value; a missing or forbidden *document* is an error shown on
// the page.
import * as zarr from "zarrita";
import { parquetReadObjects } from "hyparquet";
import { compressors } from "hyparquet-compressors";

const DOCUMENT = /(^|\/)(zarr\.json|\.zarray|\.zattrs|\.zgroup)$|\.parquet$/; // never "missing = fill"

// Codecs this viewer decodes (zarrita + numcodecs.js); ngffstore/viewer/_codecs.py has the same lists.
export const V3_CODECS = new Set(["bytes", "zstd", "blosc", "gzip", "zlib", "lz4", "transpose", "crc32c", "sharding_indexed"]);
export const V2_CODECS = new Set(["zstd", "blosc", "gzip", "zlib", "lz4", "shuffle", "delta"]);

export class ViewerError extends Error {}

export class HttpStore {
  constructor(base, { cacheBytes = 96 * 2 ** 20 } = {}) {
    this.base = new URL(base.endsWith("/") ? base : base + "/");
    this.cache = new Map(); // key -> Promise<Uint8Array|undefined>, oldest first
    this.sizes = new Map();
    this.cacheBytes = cacheBytes;
    this.held = 0;
  }

  href(key) {
    return new URL(key.replace(/^\/+/, "").split("/").map(encodeURIComponent).join("/"), this.base).href;
  }

  async #fetch(key, range) {
    const url = this.href(key);
    const headers = {};
    if (range) {
      headers.Range = "suffixLength" in range
        ? `bytes=-${range.suffixLength}`
        : `bytes=${range.offset}-${range.offset + range.length - 1}`;
    }
    let response;
    try {
      response = await fetch(url, { headers });
    } catch (err) {
      throw new ViewerError(`cannot reach ${url} (${err.message}): check the address, and that the host allows GET from this page (CORS)`);
    }
    if (response.status === 200 || response.status === 206) {
      let data = new Uint8Array(await response.arrayBuffer());
      if (range && response.status === 200) {
        // a host that ignores Range sends the whole object
        data = "suffixLength" in range
          ? data.slice(data.length - range.suffixLength)
          : data.slice(range.offset, range.offset + range.length);
      }
      return data;
    }
    const missing = response.status === 404 || response.status === 403;
    if (missing && !DOCUMENT.test(key)) return undefined; // a chunk never written: fill value
    if (missing) {
      throw new ViewerError(
        `cannot read ${url}: the host answered ${response.status} (${response.status === 403 ? "forbidden or missing" : "missing"}); ` +
        "check that the whole collection was uploaded and is publicly readable",
      );
    }
    throw new ViewerError(`cannot read ${url}: the host answered ${response.status} ${response.statusText}`);
  }

  #cached(id, load) {
    let hit = this.cache.get(id);
    if (hit) {
      this.cache.delete(id);
      this.cache.set(id, hit);
      return hit;
    }
    hit = load();
    this.cache.set(id, hit);
    hit.then((data) => {
      const size = data ? data.byteLength : 0;
      this.sizes.set(id, size);
      this.held += size;
      for (const [old] of this.cache) {
        if (this.held <= this.cacheBytes || old === id) break;
        this.held -= this.sizes.get(old) || 0;
        this.cache.delete(old);
        this.sizes.delete(old);
      }
    }, () => this.cache.delete(id));
    return hit;
  }

  // the zarrita store interface
  get(key) {
    key = key.replace(/^\/+/, "");
    return this.#cached(key, () => this.#fetch(key));
  }

  getRange(key, range) {
    key = key.replace(/^\/+/, "");
    const id = `${key}#${JSON.stringify(range)}`;
    return this.#cached(id, () => this.#fetch(key, range));
  }

  async json(key) {
    const data = await this.get(key);
    try {
      return JSON.parse(new TextDecoder().decode(data));
    } catch (err) {
      throw new ViewerError(`cannot read ${this.href(key)}: not valid JSON (${err.message})`);
    }
  }

  async parquet(key) {
    const data = await this.get(key);
    if (!data) throw new ViewerError(`cannot read ${this.href(key)}: missing`);
    try {
      const file = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
      return await parquetReadObjects({ file, compressors, utf8: true });
    } catch (err) {
      throw new ViewerError(`cannot read the Parquet file ${this.href(key)}: ${err.message}`);
    }
  }
}

function join(...parts) {
  return parts.filter((p) => p !== "" && p != null).join("/").replace(/\/+/g, "/");
}

function codecNames(doc, format) {
  if (format === 2) {
    return [doc.compressor?.id, ...(doc.filters || []).map((f) => f.id)].filter(Boolean);
  }
  const names = [];
  const walk = (codecs) => {
    for (const codec of codecs || []) {
      names.push(codec.name);
      if (codec.name === "sharding_indexed") {
        walk(codec.configuration?.codecs);
        walk(codec.configuration?.index_codecs);
      }
    }
  };
  walk(doc.codecs);
  return names;
}

// A group's attributes (v3: zarr.json "attributes"; v2: .zattrs), with the format found.
export async function readGroup(store, path, format) {
  if (format === 3 || format === undefined) {
    try {
      const doc = await store.json(join(path, "zarr.json"));
      return { format: 3, attrs: doc.attributes || {} };
    } catch (err) {
      if (format === 3) throw err;
    }
  }
  return { format: 2, attrs: await store.json(join(path, ".zattrs")) };
}

// The NGFF metadata of an image group, whatever its version (0.4 top level, 0.5 under "ome").
export function ngffOf(attrs) {
  const ome = attrs.ome || attrs;
  return {
    multiscales: ome.multiscales,
    omero: ome.omero,
    imageLabel: ome["image-label"],
    labels: ome.labels,
    plate: ome.plate,
    well: ome.well,
    ngffstore: attrs.ngffstore || {},
  };
}

// A zarr array, its codecs checked first: an unknown codec is a clear error, not a blank canvas.
export async function openArray(store, path, format) {
  const doc = await store.json(join(path, format === 2 ? ".zarray" : "zarr.json"));
  const known = format === 2 ? V2_CODECS : V3_CODECS;
  const unknown = codecNames(doc, format).filter((name) => !known.has(name));
  if (unknown.length) {
    throw new ViewerError(
      `${store.href(path)} is compressed with ${unknown.join(", ")}, which this viewer cannot decode: ` +
      `rewrite it with zstd, blosc or gzip (ngffstore copy/convert --compression zstd)`,
    );
  }
  const location = zarr.root(store).resolve(path);
  try {
    return format === 2
      ? await zarr.open.v2(location, { kind: "array", attrs: false })
      : await zarr.open.v3(location, { kind: "array" });
  } catch (err) {
    throw new ViewerError(`cannot open the array ${store.href(path)}: ${err.message}`);
  }
}

export { join, zarr };
