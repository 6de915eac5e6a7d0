// The RTCRtpScriptTransform worker: encrypts what our senders encode, decrypts what
// our receivers get (frameCrypto.ts). One worker per call; it reports its counts to
// the page twice a second.
import { FrameSealer, frameTransform, importFrameKey, type FrameCounts, type MediaKind } from "./frameCrypto";

interface TransformOptions {
  direction: "encrypt" | "decrypt";
  kind: MediaKind;
}

interface Setup {
  type: "key";
  key: Uint8Array;
  role: 0 | 1;
}

interface RtcTransformEvent extends Event {
  transformer: { readable: ReadableStream; writable: WritableStream; options: TransformOptions };
}

const scope = self as unknown as DedicatedWorkerGlobalScope;
const counts: FrameCounts = { encrypted: 0, decrypted: 0, failed: 0 };
let ready: Promise<{ key: CryptoKey; sealer: FrameSealer }> | null = null;
let resolveReady: ((v: { key: CryptoKey; sealer: FrameSealer }) => void) | null = null;
ready = new Promise((resolve) => (resolveReady = resolve));

scope.onmessage = (event: MessageEvent<Setup>) => {
  if (event.data.type !== "key") return;
  const { key, role } = event.data;
  void importFrameKey(key).then((k) => resolveReady?.({ key: k, sealer: new FrameSealer(k, role) }));
};

scope.addEventListener("rtctransform", (event: Event) => {
  const { transformer } = event as RtcTransformEvent;
  void ready!.then(({ key, sealer }) => {
    const { direction, kind } = transformer.options;
    void transformer.readable
      .pipeThrough(frameTransform(direction, kind, key, direction === "encrypt" ? sealer : null, counts))
      .pipeTo(transformer.writable);
  });
});

setInterval(() => scope.postMessage({ type: "counts", ...counts }), 500);
