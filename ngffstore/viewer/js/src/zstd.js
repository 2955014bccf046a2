// Stands in for "numcodecs/zstd" in the bundle (esbuild --alias, see package.json): zstd chunks are
// decoded with fzstd (pure JavaScript, 7 kB, the decoder hyparquet-compressors already uses for
// Parquet pages) instead of numcodecs.js's WebAssembly build (730 kB); the viewer only decodes.
// blosc, lz4, gzip and zlib stay with zarrita's defaults (numcodecs.js, DecompressionStream).
import { decompress } from "fzstd";

export default class ZstdDecoder {
  kind = "bytes_to_bytes";

  static fromConfig() {
    return new ZstdDecoder();
  }

  encode() {
    throw new Error("the viewer does not write zstd");
  }

  decode(bytes) {
    return decompress(bytes);
  }
}
