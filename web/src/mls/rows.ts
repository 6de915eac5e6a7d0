// The vault rows the MLS worker keeps (./service): their keys, and how exporter-derived
// chat keys and unused KeyPackages' private halves are encoded in them.
import type { ClientState } from "ts-mls";
import { EXPORTER_LABELS, mediaFrameKey, signalingKey } from "../crypto/derivedKeys";
import { fromBase64, fromUtf8, toBase64, utf8 } from "../crypto/encoding";
import type { ChatKeys } from "./api";
import * as engine from "./engine";
import { decodeKeyPackage, type GeneratedKeyPackage } from "./engine";

export const ROW = {
  device: "device/identity",
  keyPackage: (refHex: string) => `kp/${refHex}`,
  group: (id: string) => `group/${id}`,
  rotation: (id: string) => `rotation/${id}`,
  /** The state before our own commit, until the server has ordered it (ARCHITECTURE: first committer wins). */
  pending: (id: string) => `pending/${id}`,
  /** Exporter-derived keys of one epoch, kept while that epoch is readable. */
  epochKeys: (id: string, epoch: number) => `epochkeys/${id}/${epoch}`,
  message: (id: string, messageId: string) => `msg/${id}/${messageId}`,
  app: (key: string) => `app/${key}`,
};

export async function deriveChatKeys(state: ClientState): Promise<ChatKeys> {
  const callSecret = await engine.exportSecret(state, EXPORTER_LABELS.call);
  return {
    epoch: Number(engine.groupEpoch(state)),
    reactionKey: await engine.exportSecret(state, EXPORTER_LABELS.reaction),
    groupNameKey: await engine.exportSecret(state, EXPORTER_LABELS.groupName),
    signalingKey: await signalingKey(callSecret),
    mediaFrameKey: await mediaFrameKey(callSecret),
  };
}

export function encodeChatKeys(keys: ChatKeys): Uint8Array {
  return utf8(
    JSON.stringify({
      epoch: keys.epoch,
      reactionKey: toBase64(keys.reactionKey),
      groupNameKey: toBase64(keys.groupNameKey),
      signalingKey: toBase64(keys.signalingKey),
      mediaFrameKey: toBase64(keys.mediaFrameKey),
    }),
  );
}

export function decodeChatKeys(bytes: Uint8Array): ChatKeys {
  const raw = JSON.parse(fromUtf8(bytes)) as Record<string, string | number>;
  const key = (name: string): Uint8Array => fromBase64(String(raw[name] ?? ""));
  return {
    epoch: Number(raw["epoch"]),
    reactionKey: key("reactionKey"),
    groupNameKey: key("groupNameKey"),
    signalingKey: key("signalingKey"),
    mediaFrameKey: key("mediaFrameKey"),
  };
}

export function encodeKeyPackageRow(kp: GeneratedKeyPackage): Uint8Array {
  return utf8(
    JSON.stringify({
      encoded: toBase64(kp.encoded),
      ref: toBase64(kp.ref),
      init: toBase64(kp.privatePackage.initPrivateKey),
      hpke: toBase64(kp.privatePackage.hpkePrivateKey),
      sig: toBase64(kp.privatePackage.signaturePrivateKey),
    }),
  );
}

export function decodeKeyPackageRow(bytes: Uint8Array): GeneratedKeyPackage {
  const raw = JSON.parse(fromUtf8(bytes)) as Record<string, string>;
  const get = (k: string): Uint8Array => fromBase64(raw[k] ?? "");
  const encoded = get("encoded");
  return {
    encoded,
    ref: get("ref"),
    publicPackage: decodeKeyPackage(encoded),
    privatePackage: { initPrivateKey: get("init"), hpkePrivateKey: get("hpke"), signaturePrivateKey: get("sig") },
  };
}
