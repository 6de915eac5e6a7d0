// A user's key log as the client checks it (src/app/keylog.ts): the known answer below was
// computed with the server's format (apps/devices/keylog.py, Python's blake3).
import { describe, expect, it } from "vitest";
import type { ListedLog } from "../src/api/client";
import { emptyLog, extendLog, matchesLog } from "../src/app/keylog";

const USER = "bob@a.test";
const IDENTITY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const REVOKED = "MGIyZjBmNmUtMDAwMC00MDAwLTgwMDAtMDAwMDAwMDAwMDAx";
const HEAD_1 = "MPBmXC2OT1RrZkk/HWGAzIv746NiOWxV8+Q2nIWgzRk=";
const HEAD_2 = "uJlDo5RFw/pAqAw4iWxbpb6dOaGbI8U1i4NYhMkQ2TU=";

const log = (size: number, head: string, entries: ListedLog["entries"]): ListedLog => ({ size, head, signature: "", entries });

describe("the key log", () => {
  it("starts from the user's seed and chains entries to the server's head", async () => {
    expect((await emptyLog(USER)).head).toBe("XerIal5bmoeR9/WXUnmkJafBOLyb52Tyw6OWPkNASf8=");
    const first = await extendLog(USER, undefined, log(1, HEAD_1, [{ index: 0, kind: "identity", body: IDENTITY }]));
    expect(first).toMatchObject({ size: 1, head: HEAD_1, identityKey: IDENTITY });
    // Later: only what came after, on top of what was seen.
    const second = await extendLog(USER, first as Exclude<typeof first, "fork">, log(2, HEAD_2, [{ index: 1, kind: "revoked", body: REVOKED }]));
    expect(second).toMatchObject({ size: 2, head: HEAD_2, identityKey: IDENTITY, certificates: {} });
  });

  it("calls it a fork when the log does not extend what was seen", async () => {
    const first = (await extendLog(USER, undefined, log(1, HEAD_1, [{ index: 0, kind: "identity", body: IDENTITY }]))) as Exclude<Awaited<ReturnType<typeof extendLog>>, "fork">;
    // The history rewritten: another first entry leads to another head.
    const other = "AQECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    expect(await extendLog(USER, undefined, log(1, HEAD_1, [{ index: 0, kind: "identity", body: other }]))).toBe("fork");
    // Shorter than before, a gap, a head that does not follow, another user's chain.
    expect(await extendLog(USER, first, log(0, HEAD_1, []))).toBe("fork");
    expect(await extendLog(USER, first, log(3, HEAD_2, [{ index: 2, kind: "revoked", body: REVOKED }]))).toBe("fork");
    expect(await extendLog(USER, first, log(2, HEAD_1, [{ index: 1, kind: "revoked", body: REVOKED }]))).toBe("fork");
    expect(await extendLog("carol@a.test", undefined, log(1, HEAD_1, [{ index: 0, kind: "identity", body: IDENTITY }]))).toBe("fork");
    expect(await extendLog(USER, undefined, log(1, HEAD_1, [{ index: 0, kind: "certified", body: "AAAA" }]))).toBe("fork");
  });

  it("matches the listed keys only when the log shows them", async () => {
    const state = (await extendLog(USER, undefined, log(1, HEAD_1, [{ index: 0, kind: "identity", body: IDENTITY }]))) as Exclude<Awaited<ReturnType<typeof extendLog>>, "fork">;
    expect(matchesLog(state, { identity_key: IDENTITY, devices: [{ client_device_id: "d1", certificate: null }] })).toBe(true);
    expect(matchesLog(state, { identity_key: "AQECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", devices: [] })).toBe(false);
    expect(matchesLog(state, { identity_key: IDENTITY, devices: [{ client_device_id: "d1", certificate: "c2lnbmVk" }] })).toBe(false);
  });
});
