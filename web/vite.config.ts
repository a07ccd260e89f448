import { defineConfig } from "vite";

// The build is committed (dist/) and CI rebuilds it from a clean `npm ci`
// and compares: keep it deterministic (content hashes, no timestamps, no
// absolute paths).
export default defineConfig({
  esbuild: { jsx: "automatic", jsxImportSource: "preact", legalComments: "none" },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    sourcemap: false,
    // Modern browsers preload modules natively; the polyfill would be
    // extra code in the entry chunk.
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
  },
  server: {
    proxy: {
      "/api": { target: "http://127.0.0.1:8787", ws: true },
      "/auth": "http://127.0.0.1:8787",
      "/invites": "http://127.0.0.1:8787",
    },
  },
});
