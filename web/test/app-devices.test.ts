import { describe, expect, it } from "vitest";
import { parseDeviceChange } from "../src/app/devices";
import { FakeServer, FakeWorker, joinedChat, networkDown, settleDown, testApp } from "./support/app";

const ALICE = "alice@a.test:dev-a";
const BOB_OLD = "bob@a.test:old";

async function setUp() {
  const server = new FakeServer("a.test");
  const worker = new FakeWorker(ALICE);
  const app = await testApp(server, worker);
  app.store.session = { user: "alice@a.test", token: "t", deviceId: 1, clientDeviceId: "dev-a", cursor: 0 };
  await joinedChat(app, server, worker, "c1", ["alice@a.test", "bob@a.test"]);
  worker.groups.get("c1")!.members.push(BOB_OLD);
  return { server, worker, app };
}

const revoked = { change: "revoked", user: "bob@a.test", device_id: 7, client_device_id: "old" };

describe("device changes", () => {
  it("reads only well-formed device events", () => {
    expect(parseDeviceChange(revoked)).toEqual({ change: "revoked", user: "bob@a.test", deviceId: 7, clientDeviceId: "old" });
    expect(parseDeviceChange({ ...revoked, change: "renamed" })).toBeNull();
    expect(parseDeviceChange({ ...revoked, device_id: "7" })).toBeNull();
    expect(parseDeviceChange(null)).toBeNull();
  });

  it("takes a revoked device's leaf out with one commit, then forgets the change", async () => {
    const { server, worker, app } = await setUp();
    await app.devices.onDeviceEvent(revoked);
    await settleDown(50);
    expect((await worker.group("c1")).members).toEqual([ALICE]);
    expect(server.received.filter((r) => r.body.kind === "commit")).toHaveLength(1);
    expect(app.store.deviceChanges).toEqual([]);
    expect((await testApp(server, worker)).store.deviceChanges).toEqual([]);
  });

  it("keeps a change it could not apply (link down) in the vault for the next start", async () => {
    const { server, worker, app } = await setUp();
    server.script.push(networkDown());
    await app.devices.onDeviceEvent(revoked);
    await settleDown(50);
    expect((await worker.group("c1")).members).toContain(BOB_OLD);
    const reloaded = await testApp(server, worker);
    expect(reloaded.store.deviceChanges.map((c) => c.deviceId)).toEqual([7]);
    reloaded.devices.resume();
    await settleDown(50);
    expect((await worker.group("c1")).members).toEqual([ALICE]);
    expect(reloaded.store.deviceChanges).toEqual([]);
  });

  it("ignores an event about this device itself", async () => {
    const { worker, app } = await setUp();
    await app.devices.onDeviceEvent({ change: "revoked", user: "alice@a.test", device_id: 1, client_device_id: "dev-a" });
    await settleDown(20);
    expect(app.store.deviceChanges).toEqual([]);
    expect((await worker.group("c1")).members).toEqual([ALICE, BOB_OLD]);
  });
});
