import { defineConfig } from "vitest/config";

// Production build of the PWA: Django serves static/app/ under /app/.
export default defineConfig({
  base: "/app/",
  build: {
    outDir: "../static/app",
    emptyOutDir: true,
    target: "es2022",
  },
  worker: { format: "es" },
  test: {
    include: ["test/**/*.test.ts"],
    environment: "node",
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
