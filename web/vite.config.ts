import { VitePWA } from "vite-plugin-pwa";
import { defineConfig } from "vitest/config";

// Production build of the PWA: Django serves static/app/ under /app/ and the
// shell at /. The service worker and the manifest are served at the root
// (talkee/app_urls.py) so that the worker's scope covers `/`.
export default defineConfig({
  base: "/app/",
  build: {
    outDir: "../static/app",
    emptyOutDir: true,
    target: "es2022",
    rollupOptions: {
      // The push handler is its own classic script, loaded by the generated service
      // worker with importScripts (below); it imports nothing the app shares.
      input: { index: "index.html", "push-sw": "src/sw/push-sw.ts" },
      output: {
        entryFileNames: (chunk) => (chunk.name === "push-sw" ? "push-sw.js" : "assets/[name]-[hash].js"),
        // Its own scope: importScripts runs it in the worker's global scope.
        intro: (chunk) => (chunk.name === "push-sw" ? "(() => {" : ""),
        outro: (chunk) => (chunk.name === "push-sw" ? "})();" : ""),
      },
    },
  },
  worker: { format: "es" },
  plugins: [
    VitePWA({
      registerType: "autoUpdate",
      injectRegister: false,
      base: "/",
      scope: "/",
      filename: "sw.js",
      manifestFilename: "manifest.webmanifest",
      includeManifestIcons: false,
      manifest: {
        id: "/",
        name: "Talkee",
        short_name: "Talkee",
        description: "End-to-end encrypted messenger",
        start_url: "/",
        scope: "/",
        display: "standalone",
        background_color: "#f3f5f9",
        theme_color: "#2f5bd3",
        icons: [
          { src: "/app/icons/icon-192.png", sizes: "192x192", type: "image/png" },
          { src: "/app/icons/icon-512.png", sizes: "512x512", type: "image/png" },
          { src: "/app/icons/icon-maskable-512.png", sizes: "512x512", type: "image/png", purpose: "maskable" },
        ],
      },
      workbox: {
        // Precache paths are relative to static/app; they are served under /app/.
        modifyURLPrefix: { "": "/app/" },
        globPatterns: ["**/*.{js,css,html,wasm,png,webmanifest}"],
        maximumFileSizeToCacheInBytes: 8 * 1024 * 1024,
        navigateFallback: "/app/index.html",
        navigateFallbackDenylist: [/^\/v1\//, /^\/admin/, /^\/s2s\//, /^\/\.well-known\//, /^\/healthz/],
        inlineWorkboxRuntime: true,
        importScripts: ["/app/push-sw.js"],
        cleanupOutdatedCaches: true,
        clientsClaim: true,
        skipWaiting: true,
      },
    }),
  ],
  test: {
    include: ["test/**/*.test.ts"],
    environment: "node",
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
