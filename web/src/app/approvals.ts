// Approving devices of our own account (issue 20): the code and QR payload a waiting device
// shows, the code of a listed device to compare with it, and this device approving itself
// with the recovery phrase. Approving another device is ./devices (`approve`).
import type { Remote } from "comlink";
import type { Api, DeviceInfo } from "../api/client";
import { fromBase64 } from "../crypto/encoding";
import { approvalCode, approvalQrPayload } from "../identity/approvalCode";
import type { MlsWorkerApi } from "../mls/api";
import type { AppStore } from "./store";

export interface ApprovalsDeps {
  readonly api: Api;
  readonly mls: Remote<MlsWorkerApi>;
  readonly store: AppStore;
  user(): string;
  /** Our devices listed afresh (the certificate just set shows). */
  refreshDevices(): Promise<unknown>;
  emit(kind: "devices"): void;
}

export class Approvals {
  constructor(private readonly deps: ApprovalsDeps) {}

  /** The code a device shows for approval, from its keys as the server lists them. */
  async codeOf(device: Pick<DeviceInfo, "ed25519_pub" | "x25519_pub">): Promise<string> {
    return approvalCode(fromBase64(device.ed25519_pub), fromBase64(device.x25519_pub));
  }

  /** This device's approval code and QR payload, from its own keys (never from the server's list). */
  async ownCode(): Promise<{ code: string; qr: string }> {
    const identity = await this.deps.mls.deviceIdentity();
    const code = await approvalCode(fromBase64(identity.ed25519Pub), fromBase64(identity.x25519Pub));
    return { code, qr: approvalQrPayload({ clientDeviceId: identity.deviceId, ed25519Pub: identity.ed25519Pub, x25519Pub: identity.x25519Pub }) };
  }

  /** Whether this device holds the account's identity key (it can approve others). */
  async canApprove(): Promise<boolean> {
    return (await this.deps.mls.identityKey()) !== null;
  }

  /** This device approves itself with the recovery phrase (the identity key comes from it). */
  async certifyWithPhrase(mnemonic: string): Promise<void> {
    const deviceId = this.deps.store.session?.deviceId;
    if (deviceId === null || deviceId === undefined) throw new Error("This device is not signed in.");
    const { identityKey, certificate } = await this.deps.mls.adoptIdentity(this.deps.user(), mnemonic);
    await this.deps.api.setCertificate(deviceId, identityKey, certificate);
    await this.deps.refreshDevices();
    this.deps.emit("devices");
  }
}
