// File uploads that survive a reload or a dropped link.
//
// A file is encrypted once (secretstream, padded to its bucket, in the core) and the
// whole encrypted blob is sealed into the vault (`app/upload/<id>/<n>` rows, 1 MiB each)
// before the server is asked for a blob. Only then do chunks go out; after a reload the
// upload carries on from the chunks the server reports (`GET /v1/blobs/{id}/chunks`)
// with the very same ciphertext, and the message carrying the key is sent once (its
// client_message_id is the upload's id).
//
// Why the encrypted bytes and not the secretstream state: after a reload the browser no
// longer has the File (an <input>/drop File cannot be reopened, and storing it in
// IndexedDB would write the plaintext to disk), and secretstream's state advances with
// each chunk's MAC, so later chunks cannot be produced without the plaintext. The
// ciphertext is what the server will hold anyway; the vault seals it again, with the key.
import type { Remote } from "comlink";
import { type Api, ApiError, NetworkError, humanError, isPassing } from "../api/client";
import { fromBase64, fromUtf8, toBase64, utf8 } from "../crypto/encoding";
import { decryptFileStream, encryptedSizeForBucket, encryptFileStream, fileBucketFor, FileTooLargeError, MAX_FILE_SIZE } from "../crypto/files";
import type { FileReference } from "../crypto/payload";
import { countingBytes, type MediaInfo } from "./images";
import type { MlsWorkerApi } from "../mls/api";

const ROW_BYTES = 1024 * 1024;
const RETRY_MS = 3000;
const RECORDS = "uploads";

export interface UploadRecord {
  /** Local id; also the client_message_id of the message that carries the file. */
  id: string;
  chatId: string;
  name: string;
  mime: string;
  size: number;
  caption: string;
  /** A voice message's duration and waveform: they go inside the file's reference. */
  voice?: FileReference["voice"];
  key: string; // base64 secretstream key (this row is sealed in the vault like every app row)
  encryptedSize: number;
  /** The whole encrypted blob is in the vault (until then a reload cannot resume it). */
  prepared: boolean;
  blobId?: string;
  chunkSize?: number;
  /** A picture's or video's size and thumbnail (./images), sent in the message with the key. */
  media?: MediaInfo;
}

export interface UploadView {
  id: string;
  chatId: string;
  name: string;
  phase: "encrypting" | "uploading" | "waiting" | "sending" | "failed";
  /** 0…1 */
  progress: number;
  error?: string;
}

export interface UploadHooks {
  /** Sends the file's message once (same client_message_id on every try). */
  send(record: UploadRecord, ref: FileReference): Promise<void>;
  /** The message of this upload is already in the outbox or sent. */
  sent(record: UploadRecord): boolean;
  changed(chatId: string): void;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => window.setTimeout(r, ms));
}

export class Uploads {
  private records: UploadRecord[] = [];
  private readonly views = new Map<string, UploadView>();
  private readonly running = new Map<string, Promise<void>>();
  private stopped = false;

  constructor(
    private readonly api: Api,
    private readonly mls: Remote<MlsWorkerApi>,
    private readonly hooks: UploadHooks,
  ) {}

  /** Downloads and decrypts a file; the result has the original bytes and type. `progress`: 0…1 of the download. */
  async open(ref: FileReference, progress?: (fraction: number) => void): Promise<Blob> {
    let source = await this.api.fetchBlob(ref.blob_id);
    if (progress !== undefined) source = source.pipeThrough(countingBytes(encryptedSizeForBucket(fileBucketFor(ref.size)), progress));
    const plain = await decryptFileStream(source, fromBase64(ref.key), ref.size);
    return new Response(plain).blob().then((b) => new Blob([b], { type: ref.mime }));
  }

  /** Uploads in this chat (running, waiting for the link, or failed), oldest first. */
  inChat(chatId: string): UploadView[] {
    return [...this.views.values()].filter((v) => v.chatId === chatId);
  }

  dismiss(id: string): void {
    const view = this.views.get(id);
    if (view?.phase !== "failed") return;
    this.views.delete(id);
    this.hooks.changed(view.chatId);
  }

  stop(): void {
    this.stopped = true;
  }

  private async save(): Promise<void> {
    await this.mls.appPut(RECORDS, utf8(JSON.stringify(this.records)));
  }

  private row(id: string, n: number): string {
    return `upload/${id}/${n}`;
  }

  private show(record: UploadRecord, phase: UploadView["phase"], progress: number, error?: string): void {
    const view: UploadView = { id: record.id, chatId: record.chatId, name: record.name, phase, progress };
    if (error !== undefined) view.error = error;
    this.views.set(record.id, view);
    this.hooks.changed(record.chatId);
  }

  /** Encrypts `file` into the vault, then uploads it and sends its message; resolves once sent. */
  async start(chatId: string, chosen: File, caption: string, prepare?: (file: File) => Promise<{ file: File; media: MediaInfo }>, voice?: FileReference["voice"]): Promise<void> {
    const id = crypto.randomUUID();
    let file = chosen;
    let media: MediaInfo = {};
    if (prepare !== undefined) {
      // A picture being cleaned and scaled (./images) shows as an upload at 0 meanwhile.
      this.views.set(id, { id, chatId, name: chosen.name, phase: "encrypting", progress: 0 });
      this.hooks.changed(chatId);
      try {
        ({ file, media } = await prepare(chosen));
      } finally {
        this.views.delete(id);
        this.hooks.changed(chatId);
      }
    }
    if (file.size > MAX_FILE_SIZE) throw new FileTooLargeError(file.size);
    const encrypted = await encryptFileStream(file.stream() as ReadableStream<Uint8Array>, file.size);
    const record: UploadRecord = {
      id,
      chatId,
      name: file.name,
      mime: file.type || "application/octet-stream",
      size: file.size,
      caption,
      key: toBase64(encrypted.key),
      encryptedSize: encrypted.encryptedSize,
      prepared: false,
    };
    if (Object.keys(media).length > 0) record.media = media;
    if (voice !== undefined) record.voice = voice;
    this.records.push(record);
    await this.save();
    this.show(record, "encrypting", 0);
    try {
      const reader = encrypted.stream.getReader();
      let buffer = new Uint8Array(ROW_BYTES);
      let filled = 0;
      let rows = 0;
      let stored = 0;
      const flush = async (): Promise<void> => {
        await this.mls.appPut(this.row(record.id, rows), buffer.subarray(0, filled));
        rows += 1;
        stored += filled;
        filled = 0;
        buffer = new Uint8Array(ROW_BYTES);
        this.show(record, "encrypting", stored / record.encryptedSize / 2);
      };
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        let offset = 0;
        while (offset < value.length) {
          const take = Math.min(value.length - offset, ROW_BYTES - filled);
          buffer.set(value.subarray(offset, offset + take), filled);
          filled += take;
          offset += take;
          if (filled === ROW_BYTES) await flush();
        }
      }
      if (filled > 0) await flush();
      record.prepared = true;
      await this.save();
    } catch (err) {
      await this.forget(record);
      this.views.delete(record.id);
      this.hooks.changed(chatId);
      throw err;
    }
    return this.drive(record, true);
  }

  /** After a reload: carries on with every upload the vault holds. */
  async resume(): Promise<void> {
    const bytes = await this.mls.appGet(RECORDS);
    const stored = bytes === undefined ? [] : (JSON.parse(fromUtf8(bytes)) as UploadRecord[]);
    this.records = [...stored, ...this.records.filter((r) => !stored.some((s) => s.id === r.id))];
    // Encrypted parts of uploads that finished or failed while the tab was closing.
    const known = new Set(this.records.map((r) => r.id));
    for (const key of await this.mls.appKeys("upload/")) {
      if (!known.has(key.split("/")[1] ?? "")) await this.mls.appDelete(key);
    }
    for (const record of [...this.records]) {
      if (!record.prepared) {
        // The tab closed while the file was still being encrypted: the browser no longer
        // has the file, and nothing reached the server. Say so.
        await this.forget(record);
        this.show(record, "failed", 0, `${record.name} was not sent: the page closed while it was being encrypted. Attach it again.`);
        continue;
      }
      void this.drive(record, false).catch(() => undefined);
    }
  }

  /** Reads bytes [start, end) of the encrypted blob back from the vault rows. */
  private async readRange(record: UploadRecord, start: number, end: number): Promise<Uint8Array> {
    const out = new Uint8Array(end - start);
    let at = start;
    while (at < end) {
      const n = Math.floor(at / ROW_BYTES);
      const row = await this.mls.appGet(this.row(record.id, n));
      if (row === undefined) throw new Error(`encrypted part ${n} of ${record.name} is missing from this device`);
      const from = at - n * ROW_BYTES;
      const take = Math.min(row.length - from, end - at);
      out.set(row.subarray(from, from + take), at - start);
      at += take;
    }
    return out;
  }

  private drive(record: UploadRecord, live: boolean): Promise<void> {
    const existing = this.running.get(record.id);
    if (existing !== undefined) return existing;
    const run = this.driveLoop(record, live).finally(() => this.running.delete(record.id));
    this.running.set(record.id, run);
    return run;
  }

  /** Upload what the server lacks, complete, send the message once; retried while the link is down. */
  private async driveLoop(record: UploadRecord, live: boolean): Promise<void> {
    for (;;) {
      if (this.stopped) return;
      try {
        await this.uploadOnce(record);
        await this.forget(record);
        this.views.delete(record.id);
        this.hooks.changed(record.chatId);
        return;
      } catch (err) {
        // No link, a dead token (the messenger signs in again) or a busy server: wait and retry.
        if (err instanceof NetworkError || isPassing(err) || (err instanceof ApiError && err.status === 401)) {
          const view = this.views.get(record.id);
          this.show(record, "waiting", view?.progress ?? 0.5);
          await sleep(RETRY_MS);
          continue;
        }
        // The server refused it for good (e.g. the chat is gone, or the blob expired).
        await this.forget(record);
        this.show(record, "failed", 0, `${record.name} was not sent: ${humanError(err)}`);
        if (live) throw err;
        return;
      }
    }
  }

  private async uploadOnce(record: UploadRecord): Promise<void> {
    if (this.hooks.sent(record)) return; // the message went into the outbox before the tab closed
    if (record.blobId === undefined || record.chunkSize === undefined) {
      const blob = await this.api.createBlob(record.chatId, record.encryptedSize);
      record.blobId = blob.id;
      record.chunkSize = blob.chunk_size;
      await this.save();
    }
    const blobId = record.blobId;
    const chunkSize = record.chunkSize;
    const status = await this.api.uploadStatus(blobId);
    if (!status.complete) {
      const held = new Set(status.received);
      let done = held.size;
      this.show(record, "uploading", 0.5 + done / status.chunk_count / 2);
      for (let index = 0; index < status.chunk_count; index++) {
        if (held.has(index)) continue;
        const start = index * chunkSize;
        const bytes = await this.readRange(record, start, Math.min(start + chunkSize, record.encryptedSize));
        // The bar moves while a chunk goes out too (a picture is often one chunk).
        await this.api.putChunk(blobId, index, bytes, (sent) => this.show(record, "uploading", 0.5 + (done + sent / bytes.length) / status.chunk_count / 2));
        done += 1;
        this.show(record, "uploading", 0.5 + done / status.chunk_count / 2);
      }
      await this.api.completeBlob(blobId);
    }
    this.show(record, "sending", 1);
    const ref: FileReference = { blob_id: blobId, key: record.key, name: record.name, mime: record.mime, size: record.size, ...record.media };
    if (record.voice !== undefined) ref.voice = record.voice;
    await this.hooks.send(record, ref);
  }

  /** Drops the upload's record, then its encrypted rows (leftovers are swept on the next start). */
  private async forget(record: UploadRecord): Promise<void> {
    this.records = this.records.filter((r) => r.id !== record.id);
    await this.save();
    for (const key of await this.mls.appKeys(`upload/${record.id}/`)) await this.mls.appDelete(key);
  }
}
