// The part of XMLHttpRequest the core uses (web/src/api/client.ts `putChunk`: a PUT with
// headers, upload progress, load/error), over Node's fetch. Progress is told once, when
// the chunk is through (fetch cannot report it as it goes; nothing here draws a bar).
type Listener = () => void;

export class FetchXhr {
  status = 0;
  responseText = "";
  private method = "GET";
  private url = "";
  private readonly headers: Record<string, string> = {};
  private readonly listeners: Record<string, Listener[]> = {};
  private readonly progress: Array<(ev: { loaded: number }) => void> = [];
  readonly upload = {
    addEventListener: (type: string, fn: (ev: { loaded: number }) => void): void => {
      if (type === "progress") this.progress.push(fn);
    },
  };

  open(method: string, url: string): void {
    this.method = method;
    this.url = url;
  }

  setRequestHeader(name: string, value: string): void {
    this.headers[name] = value;
  }

  addEventListener(type: string, fn: Listener): void {
    (this.listeners[type] ??= []).push(fn);
  }

  private fire(type: string): void {
    for (const fn of this.listeners[type] ?? []) fn();
  }

  send(body?: Uint8Array): void {
    void fetch(this.url, { method: this.method, headers: this.headers, body: (body ?? null) as BodyInit | null }).then(
      async (response) => {
        this.status = response.status;
        this.responseText = await response.text();
        if (response.ok) for (const fn of this.progress) fn({ loaded: body?.length ?? 0 });
        this.fire("load");
      },
      () => this.fire("error"),
    );
  }
}
