// MLS operations on immutable ts-mls states. No storage and no threads here:
// the worker (worker.ts) calls these and persists every new state to the vault
// before answering. Kept free of browser APIs so Vitest can run it in Node.

import {
  createApplicationMessage,
  createCommit,
  createGroup,
  decodeGroupState,
  decodeMlsMessage,
  defaultKeyPackageEqualityConfig,
  defaultKeyRetentionConfig,
  defaultLifetimeConfig,
  defaultLifetime,
  emptyPskIndex,
  encodeGroupState,
  encodeMlsMessage,
  generateKeyPackageWithKey,
  joinGroup,
  mlsExporter,
  processMessage,
  acceptAll,
  zeroOutUint8Array,
  type ClientConfig,
  type ClientState,
  type Credential,
  type KeyPackage,
  type PrivateKeyPackage,
  type Proposal,
} from "ts-mls";
import { makeKeyPackageRef } from "ts-mls/keyPackage.js";
import { decryptSenderData } from "ts-mls/privateMessage.js";
import type { RatchetTree } from "ts-mls";
import { bytesEqual, fromUtf8, toBase64, utf8 } from "../crypto/encoding";
import { credentialIdentity, ed25519Seed, type DeviceSecrets } from "../crypto/identity";
import { talkeeCapabilities, talkeeSuite } from "./suite";

export class MlsUsageError extends Error {
  override name = "MlsUsageError";
}

const CREDENTIAL_PATTERN = /^[^@:\s]+@[^@:\s]+:[^:\s]+$/;

/** Ts-mls configuration Talkee uses everywhere (re-attached after decoding a state). */
export const talkeeClientConfig: ClientConfig = {
  keyRetentionConfig: defaultKeyRetentionConfig,
  lifetimeConfig: defaultLifetimeConfig,
  keyPackageEqualityConfig: defaultKeyPackageEqualityConfig,
  // Talkee pads payloads to its own buckets (src/crypto/padding.ts) before MLS;
  // no extra MLS padding, so ciphertext size = bucket + a constant.
  paddingConfig: { kind: "alwaysPad", paddingLength: 0 },
  authService: {
    // The shape only: leaf credentials must be basic `user@domain:device_id`. The worker
    // (service.ts) attaches a config whose validator also wants the device certificate
    // (trust.ts checkLeaf) to every state it loads, creates or joins.
    validateCredential: async (credential: Credential): Promise<boolean> => credentialShapeValid(credential),
  },
};

export function credentialShapeValid(credential: Credential): boolean {
  if (credential.credentialType !== "basic") return false;
  try {
    return CREDENTIAL_PATTERN.test(fromUtf8(credential.identity));
  } catch {
    return false;
  }
}

/** The same state under another client config (e.g. a stricter credential validator). */
export function withConfig(state: ClientState, config: ClientConfig): ClientState {
  return { ...state, clientConfig: config };
}

export interface GeneratedKeyPackage {
  /** The MLSMessage(mls_key_package) bytes uploaded to the server. */
  encoded: Uint8Array;
  /** KeyPackageRef (hash), used to find the private half when a Welcome arrives. */
  ref: Uint8Array;
  publicPackage: KeyPackage;
  privatePackage: PrivateKeyPackage;
}

function basicCredential(device: DeviceSecrets): Credential {
  return { credentialType: "basic", identity: utf8(credentialIdentity(device.user, device.deviceId)) };
}

export async function generateKeyPackage(device: DeviceSecrets): Promise<GeneratedKeyPackage> {
  const cs = await talkeeSuite();
  const { publicPackage, privatePackage } = await generateKeyPackageWithKey(
    basicCredential(device),
    talkeeCapabilities(),
    defaultLifetime,
    [],
    { signKey: ed25519Seed(device), publicKey: device.ed25519Public },
    cs,
  );
  const encoded = encodeMlsMessage({ version: "mls10", wireformat: "mls_key_package", keyPackage: publicPackage });
  return { encoded, ref: await makeKeyPackageRef(publicPackage, cs.hash), publicPackage, privatePackage };
}

export function decodeKeyPackage(encoded: Uint8Array): KeyPackage {
  const decoded = decodeMlsMessage(encoded, 0)?.[0];
  if (decoded === undefined || decoded.wireformat !== "mls_key_package") {
    throw new MlsUsageError("not an encoded KeyPackage message");
  }
  return decoded.keyPackage;
}

export async function createGroupState(groupId: Uint8Array, own: GeneratedKeyPackage, config = talkeeClientConfig): Promise<ClientState> {
  return createGroup(groupId, own.publicPackage, own.privatePackage, [], await talkeeSuite(), config);
}

export interface CommitOutput {
  state: ClientState;
  commit: Uint8Array;
  /** Present when members were added: one Welcome for all new members (ratchet tree included). */
  welcome?: Uint8Array;
}

async function commit(state: ClientState, proposals: Proposal[]): Promise<CommitOutput> {
  const cs = await talkeeSuite();
  const result = await createCommit(
    { state, cipherSuite: cs },
    { extraProposals: proposals, ratchetTreeExtension: true },
  );
  result.consumed.forEach(zeroOutUint8Array);
  const out: CommitOutput = { state: result.newState, commit: encodeMlsMessage(result.commit) };
  if (result.welcome !== undefined) {
    out.welcome = encodeMlsMessage({ version: "mls10", wireformat: "mls_welcome", welcome: result.welcome });
  }
  return out;
}

export async function addMembers(state: ClientState, keyPackages: Uint8Array[]): Promise<CommitOutput> {
  if (keyPackages.length === 0) throw new MlsUsageError("addMembers needs at least one KeyPackage");
  const proposals: Proposal[] = keyPackages.map((bytes) => ({
    proposalType: "add",
    add: { keyPackage: decodeKeyPackage(bytes) },
  }));
  return commit(state, proposals);
}

/** Identities (`user@domain:device_id`) of the current members, by leaf index. */
export function members(state: ClientState): Array<{ leafIndex: number; identity: string }> {
  const out: Array<{ leafIndex: number; identity: string }> = [];
  state.ratchetTree.forEach((node, nodeIndex) => {
    if (nodeIndex % 2 === 0 && node !== undefined && node.nodeType === "leaf") {
      const credential = node.leaf.credential;
      if (credential.credentialType === "basic") {
        out.push({ leafIndex: nodeIndex / 2, identity: fromUtf8(credential.identity) });
      }
    }
  });
  return out;
}

/** Each member's identity and leaf signature key (what device certificates vouch for). */
export function memberKeys(state: ClientState): Array<{ identity: string; signatureKey: Uint8Array }> {
  const out: Array<{ identity: string; signatureKey: Uint8Array }> = [];
  state.ratchetTree.forEach((node, nodeIndex) => {
    if (nodeIndex % 2 === 0 && node !== undefined && node.nodeType === "leaf" && node.leaf.credential.credentialType === "basic") {
      out.push({ identity: fromUtf8(node.leaf.credential.identity), signatureKey: node.leaf.signaturePublicKey });
    }
  });
  return out;
}

/** Each member's leaf HPKE public key (base64), by identity: a member's own commit replaces it. */
export function leafEncryptionKeys(state: ClientState): Record<string, string> {
  const out: Record<string, string> = {};
  state.ratchetTree.forEach((node, nodeIndex) => {
    if (nodeIndex % 2 === 0 && node !== undefined && node.nodeType === "leaf" && node.leaf.credential.credentialType === "basic") {
      out[fromUtf8(node.leaf.credential.identity)] = toBase64(node.leaf.hpkePublicKey);
    }
  });
  return out;
}

export async function removeMembers(state: ClientState, identities: string[]): Promise<CommitOutput> {
  const current = members(state);
  const proposals: Proposal[] = identities.map((identity) => {
    const member = current.find((m) => m.identity === identity);
    if (member === undefined) throw new MlsUsageError(`${identity} is not a member of this group`);
    return { proposalType: "remove", remove: { removed: member.leafIndex } };
  });
  if (proposals.length === 0) throw new MlsUsageError("removeMembers needs at least one member");
  return commit(state, proposals);
}

/** An empty commit with an update path: fresh leaf and path secrets (post-compromise security). */
export function selfUpdate(state: ClientState): Promise<CommitOutput> {
  return commit(state, []);
}

/** Joins from a Welcome, given the KeyPackages this device still holds unused. */
export async function joinFromWelcome(
  welcomeBytes: Uint8Array,
  candidates: Array<Pick<GeneratedKeyPackage, "ref" | "publicPackage" | "privatePackage">>,
  config = talkeeClientConfig,
): Promise<{ state: ClientState; usedRef: Uint8Array }> {
  const decoded = decodeMlsMessage(welcomeBytes, 0)?.[0];
  if (decoded === undefined || decoded.wireformat !== "mls_welcome") throw new MlsUsageError("not a Welcome message");
  const welcome = decoded.welcome;
  const mine = candidates.find((c) => welcome.secrets.some((s) => bytesEqual(s.newMember, c.ref)));
  if (mine === undefined) throw new MlsUsageError("this Welcome is not addressed to any KeyPackage of this device");
  const state = await joinGroup(
    welcome,
    mine.publicPackage,
    mine.privatePackage,
    emptyPskIndex,
    await talkeeSuite(),
    undefined,
    undefined,
    config,
  );
  return { state, usedRef: mine.ref };
}

export async function encryptApplication(state: ClientState, plaintext: Uint8Array): Promise<{ state: ClientState; message: Uint8Array }> {
  const result = await createApplicationMessage(state, plaintext, await talkeeSuite());
  result.consumed.forEach(zeroOutUint8Array);
  const message = encodeMlsMessage({ version: "mls10", wireformat: "mls_private_message", privateMessage: result.privateMessage });
  return { state: result.newState, message };
}

export type Received =
  | { kind: "application"; state: ClientState; plaintext: Uint8Array; epoch: bigint; senderIdentity: string }
  | { kind: "handshake"; state: ClientState; epoch: bigint; removed: boolean };

/** The epoch a protocol message was sent in, read without decrypting it. */
export function messageEpoch(bytes: Uint8Array): bigint {
  const decoded = decodeMlsMessage(bytes, 0)?.[0];
  if (decoded === undefined) throw new MlsUsageError("not an MLS message");
  if (decoded.wireformat === "mls_private_message") return decoded.privateMessage.epoch;
  if (decoded.wireformat === "mls_public_message") return decoded.publicMessage.content.epoch;
  throw new MlsUsageError(`unexpected wire format ${decoded.wireformat}`);
}

function leafIdentity(tree: RatchetTree, leafIndex: number): string {
  const node = tree[leafIndex * 2];
  if (node === undefined || node.nodeType !== "leaf" || node.leaf.credential.credentialType !== "basic") {
    throw new MlsUsageError(`no member at leaf ${leafIndex}`);
  }
  return fromUtf8(node.leaf.credential.identity);
}

/** Whether a group message carries a commit (visible in the clear in PrivateMessage and PublicMessage). */
export function isCommitMessage(bytes: Uint8Array): boolean {
  const decoded = decodeMlsMessage(bytes, 0)?.[0];
  if (decoded === undefined) throw new MlsUsageError("not an MLS message");
  if (decoded.wireformat === "mls_private_message") return decoded.privateMessage.contentType === "commit";
  if (decoded.wireformat === "mls_public_message") return decoded.publicMessage.content.contentType === "commit";
  return false;
}

/** Processes an incoming group message: application data or a commit/proposal. */
export async function receive(state: ClientState, bytes: Uint8Array): Promise<Received> {
  const decoded = decodeMlsMessage(bytes, 0)?.[0];
  if (decoded === undefined) throw new MlsUsageError("not an MLS message");
  if (decoded.wireformat !== "mls_private_message" && decoded.wireformat !== "mls_public_message") {
    throw new MlsUsageError(`cannot process a ${decoded.wireformat} as a group message`);
  }
  const cs = await talkeeSuite();
  // The sender's leaf, from the encrypted sender data of the message's epoch;
  // processMessage below verifies the content signature against that leaf.
  let senderIdentity: string | undefined;
  if (decoded.wireformat === "mls_private_message") {
    const pm = decoded.privateMessage;
    const epochData =
      pm.epoch === state.groupContext.epoch
        ? { senderDataSecret: state.keySchedule.senderDataSecret, ratchetTree: state.ratchetTree }
        : state.historicalReceiverData.get(pm.epoch);
    if (epochData !== undefined) {
      const senderData = await decryptSenderData(pm, epochData.senderDataSecret, cs);
      if (senderData !== undefined) senderIdentity = leafIdentity(epochData.ratchetTree, senderData.leafIndex);
    }
  }
  let result: Awaited<ReturnType<typeof processMessage>>;
  try {
    result = await processMessage(decoded, state, emptyPskIndex, acceptAll, cs);
  } catch (err) {
    // Who sent a refused commit (the validator's refusal names only the leaves it brought in).
    if (senderIdentity !== undefined && err instanceof Error) Object.assign(err, { mlsSender: senderIdentity });
    throw err;
  }
  result.consumed.forEach(zeroOutUint8Array);
  if (result.kind === "applicationMessage") {
    if (senderIdentity === undefined) throw new MlsUsageError("application message without a known sender");
    return {
      kind: "application",
      state: result.newState,
      plaintext: result.message,
      epoch: result.newState.groupContext.epoch,
      senderIdentity,
    };
  }
  return {
    kind: "handshake",
    state: result.newState,
    epoch: result.newState.groupContext.epoch,
    removed: result.newState.groupActiveState.kind === "removedFromGroup",
  };
}

/** RFC 9420 §8.5 exporter of the current epoch. */
export async function exportSecret(state: ClientState, label: string, length = 32, context = new Uint8Array(0)): Promise<Uint8Array> {
  return mlsExporter(state.keySchedule.exporterSecret, label, context, length, await talkeeSuite());
}

/** Drops the receiver secrets of the given past epochs (after their grace window). */
export function forgetEpochs(state: ClientState, epochs: bigint[]): ClientState {
  if (epochs.length === 0) return state;
  const kept = new Map(state.historicalReceiverData);
  for (const e of epochs) kept.delete(e);
  return { ...state, historicalReceiverData: kept };
}

/** Full state, including every secret: only ever stored inside the vault. */
export function encodeState(state: ClientState): Uint8Array {
  return encodeGroupState(state);
}

export function decodeState(bytes: Uint8Array, config = talkeeClientConfig): ClientState {
  const decoded = decodeGroupState(bytes, 0)?.[0];
  if (decoded === undefined) throw new MlsUsageError("stored group state does not decode");
  // encodeGroupState omits the client config; re-attach ours.
  return { ...decoded, clientConfig: config };
}

export function groupEpoch(state: ClientState): bigint {
  return state.groupContext.epoch;
}
