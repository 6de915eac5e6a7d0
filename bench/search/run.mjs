// Node runner: node bench/search/run.mjs [N ...]   (libraries from web/node_modules; the app's
// own index, web/src/search/searchIndex.ts, bundled first with the web app's Vite)
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";
import os from "node:os";

const here = fileURLToPath(new URL(".", import.meta.url));
const web = fileURLToPath(new URL("../../web/", import.meta.url));
const require = createRequire(`${web}package.json`);
const MiniSearch = require("minisearch");
const FlexSearch = require("flexsearch");
const { build } = await import(pathToFileURL(require.resolve("vite")).href);
await build({
  configFile: false,
  root: web,
  logLevel: "warn",
  publicDir: false,
  build: { lib: { entry: "src/search/searchIndex.ts", formats: ["es"], fileName: () => "searchIndex.mjs" }, outDir: `${here}.build`, emptyOutDir: true, minify: false },
});
const { SearchIndex } = await import(pathToFileURL(`${here}.build/searchIndex.mjs`).href);
const { benchSearch } = require(`${here}core.js`);
const sizes = process.argv.slice(2).map(Number);
for (const n of sizes.length > 0 ? sizes : [10000, 100000]) {
  const load = os.loadavg()[0];
  const out = benchSearch({ MiniSearch, FlexSearch, SearchIndex, n });
  const round = (k, v) => (typeof v === "number" ? Math.round(v * 100) / 100 : v);
  console.log(JSON.stringify({ node: process.version, loadAvgBefore: load, loadAvgAfter: os.loadavg()[0], heapMiB: Math.round(process.memoryUsage().heapUsed / 2 ** 20), ...out }, round));
}
