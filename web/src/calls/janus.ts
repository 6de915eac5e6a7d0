// A small typed client of Janus's JSON protocol (sessions, plugin handles, messages,
// trickle, keepalive) over the instance's proxy socket (/v1/group-call/ws, same origin, so
// the CSP stays 'self'). The first frame is the single-use ticket; the proxy adds the
// Janus token and passes only what a VideoRoom participant of the ticket's room needs.

export interface Jsep {
  type: "offer" | "answer";
  sdp: string;
  /** Janus's flag for end-to-end encrypted media (the room has require_e2ee). */
  e2ee?: boolean;
}

export interface JanusMessage {
  janus: string;
  transaction?: string;
  session_id?: number;
  sender?: number;
  data?: { id?: number };
  error?: { code: number; reason: string };
  plugindata?: { plugin: string; data: Record<string, unknown> };
  jsep?: Jsep;
}

export class JanusError extends Error {
  override name = "JanusError";
}

const KEEPALIVE_MS = 25_000;
const ANSWER_TIMEOUT_MS = 15_000;

export class JanusConnection {
  private pending = new Map<string, { resolve(m: JanusMessage): void; reject(e: Error): void }>();
  private next = 0;
  private keepalive: ReturnType<typeof setInterval> | null = null;
  session = 0;
  /** Events Janus sends by itself (publishers joining, leaving, hangups), per handle. */
  onEvent: (message: JanusMessage) => void = () => undefined;
  onClose: () => void = () => undefined;

  private constructor(private readonly ws: WebSocket) {
    ws.onmessage = (ev: MessageEvent<string>) => this.dispatch(ev.data);
    ws.onclose = () => {
      if (this.keepalive !== null) clearInterval(this.keepalive);
      for (const p of this.pending.values()) p.reject(new JanusError("The group-call connection closed."));
      this.pending.clear();
      this.onClose();
    };
  }

  /** Opens the proxy socket with a ticket and a Janus session on it. */
  static open(url: string, ticket: string): Promise<JanusConnection> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, "janus-protocol");
      ws.onopen = () => ws.send(JSON.stringify({ talkee: "ticket", ticket }));
      ws.onerror = () => reject(new JanusError("The group-call server cannot be reached."));
      ws.onmessage = (ev: MessageEvent<string>) => {
        const first = JSON.parse(ev.data) as { talkee?: string; code?: string };
        if (first.talkee !== "ready") {
          reject(new JanusError(`The group call was refused (${first.code ?? "unknown"}).`));
          ws.close();
          return;
        }
        const conn = new JanusConnection(ws);
        conn
          .request({ janus: "create" })
          .then((created) => {
            conn.session = created.data?.id ?? 0;
            conn.keepalive = setInterval(() => void conn.send({ janus: "keepalive" }).catch(() => undefined), KEEPALIVE_MS);
            resolve(conn);
          })
          .catch(reject);
      };
    });
  }

  private dispatch(text: string): void {
    let message: JanusMessage;
    try {
      message = JSON.parse(text) as JanusMessage;
    } catch {
      return;
    }
    if (message.janus === "ack") return;
    const waiting = message.transaction === undefined ? undefined : this.pending.get(message.transaction);
    if (waiting !== undefined) {
      this.pending.delete(message.transaction!);
      if (message.janus === "error") waiting.reject(new JanusError(message.error?.reason ?? "Janus error"));
      else waiting.resolve(message);
      return;
    }
    this.onEvent(message);
  }

  private send(body: Record<string, unknown>): Promise<void> {
    const transaction = `t${++this.next}`;
    const full = this.session === 0 ? { ...body, transaction } : { session_id: this.session, ...body, transaction };
    this.ws.send(JSON.stringify(full));
    return Promise.resolve();
  }

  /** A request and its answer (the first that is not an ack: success, event or error). */
  request(body: Record<string, unknown>): Promise<JanusMessage> {
    const transaction = `t${++this.next}`;
    const full = this.session === 0 || body["janus"] === "create" ? { ...body, transaction } : { session_id: this.session, ...body, transaction };
    return new Promise((resolve, reject) => {
      this.pending.set(transaction, { resolve, reject });
      setTimeout(() => {
        if (this.pending.delete(transaction)) reject(new JanusError("The group-call server did not answer."));
      }, ANSWER_TIMEOUT_MS);
      this.ws.send(JSON.stringify(full));
    });
  }

  async attach(): Promise<number> {
    const answer = await this.request({ janus: "attach", plugin: "janus.plugin.videoroom" });
    return answer.data?.id ?? 0;
  }

  /** A VideoRoom request on a handle; resolves with Janus's answer (its plugin data and jsep). */
  message(handle: number, body: Record<string, unknown>, jsep?: Jsep): Promise<JanusMessage> {
    return this.request(jsep === undefined ? { janus: "message", handle_id: handle, body } : { janus: "message", handle_id: handle, body, jsep });
  }

  trickle(handle: number, candidate: RTCIceCandidateInit | null): void {
    void this.send({ janus: "trickle", handle_id: handle, candidate: candidate ?? { completed: true } });
  }

  detach(handle: number): void {
    void this.send({ janus: "detach", handle_id: handle }).catch(() => undefined);
  }

  close(): void {
    if (this.keepalive !== null) clearInterval(this.keepalive);
    try {
      if (this.session !== 0) void this.send({ janus: "destroy" });
    } finally {
      this.ws.close();
    }
  }
}
