"""The browser's vault as it lies on disk, read out of a page (for tests that open a copy of
it in the crypto harness, as someone holding the disk and the password would)."""

# Every row of an IndexedDB database (the vault's "meta" and "rows" stores), bytes as base64.
DUMP_VAULT = """async (name) => {
  const db = await new Promise((resolve, reject) => {
    const req = indexedDB.open(name);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
  const b64 = (u) => { let s = ""; for (const x of u) s += String.fromCharCode(x); return btoa(s); };
  const wire = (v) => v instanceof Uint8Array ? { b64: b64(v) }
    : Array.isArray(v) ? v.map(wire)
    : v !== null && typeof v === "object" ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, wire(x)]))
    : v;
  const out = [];
  for (const store of ["meta", "rows"]) {
    const [keys, values] = await new Promise((resolve, reject) => {
      const tx = db.transaction(store);
      const k = tx.objectStore(store).getAllKeys();
      const v = tx.objectStore(store).getAll();
      tx.oncomplete = () => resolve([k.result, v.result]);
      tx.onerror = () => reject(tx.error);
    });
    keys.forEach((key, i) => out.push({ store, key: String(key), value: wire(values[i]) }));
  }
  db.close();
  return out;
}"""
