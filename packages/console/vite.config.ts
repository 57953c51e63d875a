import { defineConfig } from "vite";

/** The edge the dev server forwards the APIs to (`pnpm start` listens on 8080). */
const edge = process.env["CALCBRIDGE_EDGE_URL"] ?? "http://localhost:8080";

// Everything the console needs is bundled here: the edge serves dist-web/
// under /console and the page fetches nothing from anywhere else.
export default defineConfig({
  base: "/console/",
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: "dist-web",
    emptyOutDir: true,
    // No source maps: the edge loads the whole directory into memory.
    sourcemap: false,
    assetsInlineLimit: 0,
  },
  // `pnpm --filter @calcbridge/console run dev`: the page from Vite, the APIs from a running edge.
  server: {
    proxy: {
      "/console/api": edge,
      "/v1": edge,
      "/socket.io": { target: edge, ws: true },
      "/ws": { target: edge, ws: true },
    },
  },
});
