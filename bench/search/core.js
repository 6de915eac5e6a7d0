// The search bench's measuring part, shared by the Node runner (run.mjs) and the Chromium
// runner (chromium.py): no imports, the two libraries are passed in. Synthetic messages
// (Zipf-distributed words, some accented, Cyrillic, Hebrew and emoji), N of them indexed,
// then timed queries (p50/p95), the serialized size and the time to load it back.
/* global performance */
function benchSearch({ MiniSearch, FlexSearch, SearchIndex, n, queries = 400, log = () => {} }) {
  let seed = 42;
  const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const syllables = ["ka", "lo", "mi", "ter", "sa", "ne", "ro", "vi", "da", "pul", "en", "tor", "gri", "fé", "ço", "ün", "ma", "li", "qua", "zo"];
  const extra = ["привет", "встреча", "завтра", "שלום", "מחר", "café", "résumé", "naïve", "Zürich", "🎉", "👍", "déjà", "Ærø", "straße"];
  const vocab = [];
  for (let i = 0; i < 20000; i++) {
    let w = "";
    const len = 2 + Math.floor(rand() * 3);
    for (let j = 0; j < len; j++) w += syllables[Math.floor(rand() * syllables.length)];
    vocab.push(w);
  }
  vocab.splice(10, 0, ...extra);
  const word = () => vocab[Math.min(vocab.length - 1, Math.floor(Math.exp(rand() * Math.log(vocab.length))) - 1)]; // ~Zipf
  const docs = [];
  for (let i = 0; i < n; i++) {
    const words = [];
    const len = 3 + Math.floor(rand() * 25);
    for (let j = 0; j < len; j++) words.push(word());
    const doc = { id: `c${i % 50}/m${i}`, chat: `c${i % 50}`, key: `m${i}`, at: i, text: words.join(" ") };
    if (i % 40 === 0) doc.name = `${word()}-${word()}.pdf`;
    docs.push(doc);
  }
  const fold = (s) => s.normalize("NFD").replace(/\p{M}/gu, "").toLowerCase();
  const tokenize = (s) => s.match(/[\p{L}\p{N}]+|\p{Extended_Pictographic}/gu) ?? [];
  const qs = [];
  for (let i = 0; i < queries; i++) {
    const k = i % 4;
    if (k === 0) qs.push(word());
    else if (k === 1) qs.push(`${word()} ${word()}`);
    else if (k === 2) qs.push(word().slice(0, 3)); // typing: a prefix
    else qs.push(extra[i % extra.length]);
  }
  const pct = (arr, p) => {
    const s = [...arr].sort((a, b) => a - b);
    return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
  };
  const timeQueries = (run) => {
    const times = [];
    const byKind = [[], [], [], []];
    let hits = 0;
    qs.forEach((q, i) => {
      const t = performance.now();
      hits += run(q);
      const ms = performance.now() - t;
      times.push(ms);
      byKind[i % 4].push(ms);
    });
    const kinds = ["word", "two words", "3-letter prefix", "accented/Cyrillic/Hebrew/emoji"];
    return {
      p50: pct(times, 50),
      p95: pct(times, 95),
      max: Math.max(...times),
      meanHits: hits / qs.length,
      p95ByKind: Object.fromEntries(kinds.map((k, i) => [k, pct(byKind[i], 95)])),
    };
  };
  const results = {};

  // The app's own index (web/src/search/searchIndex.ts: MiniSearch in segments of 5,000,
  // read newest first), as the app feeds it: 500 messages at a time, oldest first.
  if (SearchIndex !== undefined) {
    let t = performance.now();
    const index = new SearchIndex();
    const chunkTimes = [];
    for (let i = 0; i < docs.length; i += 500) {
      const c = performance.now();
      index.upsert(docs.slice(i, i + 500));
      chunkTimes.push(performance.now() - c);
    }
    const indexMs = performance.now() - t;
    const q = timeQueries((query) => index.search(query, { limit: 50 }).length);
    const qChat = timeQueries((query) => index.search(query, { chat: "c7", limit: 50 }).length);
    t = performance.now();
    const bytes = index.serialize();
    const serializeMs = performance.now() - t;
    t = performance.now();
    const back = new SearchIndex();
    if (!back.load(bytes)) throw new Error("the serialized index did not load");
    const loadMs = performance.now() - t;
    results.talkee = { indexMs, chunkP95Ms: pct(chunkTimes, 95), chunkMaxMs: Math.max(...chunkTimes), q, qOneChat: qChat, bytes: bytes.length, serializeMs, loadMs };
    log("talkee", results.talkee);
  }

  // MiniSearch as one index over everything (the same options, no segments).
  {
    const options = {
      idField: "id",
      fields: ["text", "name"],
      storeFields: ["chat", "at"],
      tokenize,
      processTerm: (t) => fold(t),
      searchOptions: { prefix: (_t, i, all) => i === all.length - 1, combineWith: "AND" },
    };
    let t = performance.now();
    const ms = new MiniSearch(options);
    for (let i = 0; i < docs.length; i += 1000) ms.addAll(docs.slice(i, i + 1000));
    const indexMs = performance.now() - t;
    const q = timeQueries((query) => ms.search(query).slice(0, 50).length);
    const qFuzzy = timeQueries((query) => ms.search(query, { fuzzy: (term) => (term.length > 4 ? 0.2 : false) }).slice(0, 50).length);
    t = performance.now();
    const json = JSON.stringify(ms);
    const serializeMs = performance.now() - t;
    t = performance.now();
    MiniSearch.loadJSON(json, options);
    const loadMs = performance.now() - t;
    results.minisearch = { indexMs, q, qFuzzy, bytes: json.length, serializeMs, loadMs };
    log("minisearch", results.minisearch);
  }

  // FlexSearch 0.8: a forward-tokenized index over the same folded text (the chat kept beside it).
  {
    const make = () =>
      new FlexSearch.Index({ tokenize: "forward", encoder: new FlexSearch.Encoder({ normalize: false, split: false, dedupe: false, prepare: (s) => tokenize(fold(s)).join(" ") }) });
    let t = performance.now();
    const fx = make();
    for (const d of docs) fx.add(d.id, d.name === undefined ? d.text : `${d.text} ${d.name}`);
    const indexMs = performance.now() - t;
    const q = timeQueries((query) => fx.search(query, { limit: 50 }).length);
    t = performance.now();
    const parts = [];
    fx.export((key, data) => parts.push([key, data]));
    const serializeMs = performance.now() - t;
    const bytes = parts.reduce((s, [k, d]) => s + k.length + (d?.length ?? 0), 0);
    t = performance.now();
    const back = make();
    for (const [k, d] of parts) back.import(k, d);
    const loadMs = performance.now() - t;
    results.flexsearch = { indexMs, q, bytes, serializeMs, loadMs, importedHits: back.search(qs[0], { limit: 5 }).length };
    log("flexsearch", results.flexsearch);
  }
  return { n, queries: qs.length, results };
}
if (typeof module !== "undefined") module.exports = { benchSearch };
else globalThis.benchSearch = benchSearch;
