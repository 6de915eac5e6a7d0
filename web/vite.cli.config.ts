import { resolve } from "node:path";
import { defineConfig, type Plugin } from "vite";

// talkee-cli (cli/): the PWA's core built for Node 20 into one file, dist-cli/talkee-cli.mjs
// (run by ../bin/talkee-cli). The two modules that start Web Workers are swapped for
// in-process ones; everything else is web/src as the PWA builds it.
const SRC = resolve(import.meta.dirname, "src");
const CLI = resolve(import.meta.dirname, "cli");
const SWAPS: Record<string, string> = {
  [resolve(SRC, "mls/client.ts")]: resolve(CLI, "mlsInline.ts"),
  [resolve(SRC, "search/client.ts")]: resolve(CLI, "searchInline.ts"),
};

function inProcessWorkers(): Plugin {
  return {
    name: "talkee-cli-in-process-workers",
    enforce: "pre",
    async resolveId(source, importer, options) {
      if (importer === undefined || Object.values(SWAPS).includes(importer)) return null;
      const resolved = await this.resolve(source, importer, { ...options, skipSelf: true });
      const swap = resolved === null ? undefined : SWAPS[resolved.id];
      return swap ?? null;
    },
  };
}

export default defineConfig({
  publicDir: false,
  plugins: [inProcessWorkers()],
  build: {
    ssr: resolve(CLI, "main.ts"),
    outDir: resolve(import.meta.dirname, "dist-cli"),
    emptyOutDir: true,
    target: "node20",
    minify: false,
    rollupOptions: { output: { entryFileNames: "talkee-cli.mjs", codeSplitting: false } },
  },
  ssr: { noExternal: true, target: "node" },
});
