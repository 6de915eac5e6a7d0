import { resolve } from "node:path";
import { defineConfig } from "vite";

// Browser test harness: a separate page exposing window.talkeeHarness for
// tests/e2e/crypto. Never part of static/app.
export default defineConfig({
  root: resolve(import.meta.dirname, "harness"),
  base: "./",
  publicDir: false,
  build: {
    outDir: resolve(import.meta.dirname, "dist-harness"),
    emptyOutDir: true,
    target: "es2022",
    sourcemap: true,
  },
  worker: { format: "es" },
});
