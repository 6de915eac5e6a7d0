// The RTCRtpScriptTransform worker of a group call: our senders encrypt with our own key
// of the current epoch, each receiver decrypts with the key of the sender it carries (its
// leaf index), trying the previous epoch's key for a short overlap (./groupKeys.ts).
// Reports its counts (per sender) to the page twice a second.
import { clearHeaderBytes, FrameSealer, importFrameKey, openFrame, type FrameType, type MediaKind } from "./frameCrypto";
import { SenderKeyring } from "./groupKeys";

interface TransformOptions {
  direction: "encrypt" | "decrypt";
  kind: MediaKind;
  /** decrypt: the sender's leaf index */
  leaf?: number;
}

interface KeysMessage {
  type: "keys";
  epoch: number;
  self: number;
  keys: Array<[number, Uint8Array]>;
}

interface RtcTransformEvent extends Event {
  transformer: { readable: ReadableStream; writable: WritableStream; options: TransformOptions };
}

interface EncodedFrame {
  data: ArrayBuffer;
  type?: string;
}

const scope = self as unknown as DedicatedWorkerGlobalScope;
const keyring = new SenderKeyring<CryptoKey>();
let sealer: FrameSealer | null = null;
let encrypted = 0;
const bySender = new Map<number, { decrypted: number; failed: number }>();

function countsOf(leaf: number): { decrypted: number; failed: number } {
  let c = bySender.get(leaf);
  if (c === undefined) bySender.set(leaf, (c = { decrypted: 0, failed: 0 }));
  return c;
}

scope.onmessage = (event: MessageEvent<KeysMessage>) => {
  if (event.data.type !== "keys") return;
  const { epoch, self: me, keys } = event.data;
  void (async () => {
    const imported = new Map<number, CryptoKey>();
    for (const [leaf, raw] of keys) imported.set(leaf, await importFrameKey(raw));
    if (epoch < keyring.epoch) return; // an older epoch arriving late
    keyring.install(epoch, imported);
    const own = imported.get(me);
    sealer = own === undefined ? null : new FrameSealer(own, 0);
  })();
};

function transform(options: TransformOptions): TransformStream<EncodedFrame, EncodedFrame> {
  return new TransformStream<EncodedFrame, EncodedFrame>({
    async transform(frame, controller) {
      const data = new Uint8Array(frame.data);
      if (data.length === 0) return controller.enqueue(frame);
      if (options.direction === "encrypt") {
        if (sealer === null) return; // no key yet: nothing leaves in clear
        const out = await sealer.seal(data, clearHeaderBytes(options.kind, frame.type as FrameType));
        frame.data = out.buffer as ArrayBuffer;
        encrypted += 1;
        return controller.enqueue(frame);
      }
      const leaf = options.leaf ?? -1;
      const counts = countsOf(leaf);
      for (const key of keyring.candidates(leaf)) {
        try {
          const out = await openFrame(key, data);
          frame.data = out.buffer as ArrayBuffer;
          counts.decrypted += 1;
          return controller.enqueue(frame);
        } catch {
          // try the next key (the previous epoch's, during the overlap)
        }
      }
      counts.failed += 1; // dropped, never passed on as it came
    },
  });
}

scope.addEventListener("rtctransform", (event: Event) => {
  const { transformer } = event as RtcTransformEvent;
  void transformer.readable.pipeThrough(transform(transformer.options)).pipeTo(transformer.writable);
});

setInterval(() => scope.postMessage({ type: "counts", epoch: keyring.epoch, encrypted, bySender: Object.fromEntries(bySender) }), 500);
