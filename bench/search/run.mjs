// Node runner: node bench/search/run.mjs [N ...]   (libraries from web/node_modules)
import { createRequire } from "node:module";
const require = createRequire(new URL("../../web/package.json", import.meta.url));
const MiniSearch = require("minisearch");
const FlexSearch = require("flexsearch");
const { benchSearch } = require(new URL("./core.js", import.meta.url).pathname);
const sizes = process.argv.slice(2).map(Number);
for (const n of sizes.length > 0 ? sizes : [10000, 100000]) {
  const out = benchSearch({ MiniSearch, FlexSearch, n });
  console.log(JSON.stringify({ node: process.version, heapMiB: Math.round(process.memoryUsage().heapUsed / 2 ** 20), ...out }, (k, v) => (typeof v === "number" ? Math.round(v * 100) / 100 : v)));
}
