// The commands of talkee-cli, each a few calls on the PWA's own Session and Messenger.
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { basename } from "node:path";
import { createInterface } from "node:readline";
import { newRecoveryMnemonic } from "../src/crypto/recovery";
import { userOf } from "../src/app/format";
import type { Messenger } from "../src/app/messenger";
import { Session } from "../src/app/session";
import type { ChatRecord, LocalMessage } from "../src/app/store";
import { carryOverPlainDns } from "../src/transport/tunnel";
import { parseResolver, plainDnsWire, systemResolver } from "./dnsWire";
import { dnsOnly } from "./env";
import { VaultBusyError, VaultFile } from "./vaultFile";

export const USAGE = `usage: talkee-cli [--server URL] [--vault FILE] [--dns RESOLVER] COMMAND …

  register USER            a new account; prints its recovery phrase
  login USER [--phrase]    this computer as a new device of USER: certified with the
                           recovery phrase (--phrase), else approved from another device
  chats                    the chats: id, kind, title
  send CHAT TEXT           CHAT: a chat id, a chat's title, or a person (a direct chat)
  send-file CHAT PATH      a file, encrypted like the app's
  save-file CHAT NAME [TO] the chat's latest file called NAME, decrypted into TO
                           (default ./NAME; an existing file is not overwritten)
  history CHAT             the chat's messages on this device
  listen                   prints messages as they arrive (Ctrl-C ends)

The password (account and vault) comes from TALKEE_PASSWORD or is asked for; the phrase
from TALKEE_RECOVERY_PHRASE or is asked for. --server (TALKEE_SERVER) is the instance's
URL; --vault (TALKEE_VAULT, default ~/.talkee/vault.json) the encrypted vault file;
--dns HOST[:PORT] (TALKEE_DNS) carries messages in plain DNS queries to that resolver
only; without it, when neither the WebSocket nor HTTPS gets through, they go that way to
--dns-fallback HOST[:PORT] (TALKEE_DNS_FALLBACK; default "system": /etc/resolv.conf; "off").
One talkee-cli at a time uses a vault (exit code 3 while another holds it).
`;

export interface Options {
  server: string;
  vault: string;
  dns: string | null;
  /** The resolver the tunnel falls back to when the socket and HTTPS fail: "system", "off" or HOST[:PORT]. */
  fallback: string;
  phrase: boolean;
}

class UsageError extends Error {
  override name = "UsageError";
}

function ask(question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: false });
  process.stderr.write(question);
  return new Promise((resolve) => {
    rl.once("line", (line) => (resolve(line.trim()), rl.close()));
    rl.once("close", () => resolve(""));
  });
}

/** A line typed at a terminal without echoing it (Ctrl-C ends the program). */
function askHidden(question: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(question);
  stdin.setRawMode(true);
  stdin.resume();
  let typed = "";
  return new Promise((resolve) => {
    const onData = (chunk: Buffer): void => {
      for (const ch of chunk.toString("utf8")) {
        if (ch === "\u0003") process.exit(130);
        if (ch === "\r" || ch === "\n" || ch === "\u0004") {
          stdin.off("data", onData);
          stdin.setRawMode(false);
          stdin.pause();
          process.stderr.write("\n");
          resolve(typed.trim());
          return;
        }
        typed = ch === "\u007f" ? typed.slice(0, -1) : typed + ch;
      }
    };
    stdin.on("data", onData);
  });
}

async function secret(env: string, question: string): Promise<string> {
  const value = process.env[env];
  if (value !== undefined && value !== "") return value;
  return process.stdin.isTTY ? askHidden(question) : ask(question);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function until(what: string, ok: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** Online and every frame the server replayed processed. */
async function synced(m: Messenger): Promise<void> {
  if (process.env["TALKEE_CLI_DEBUG"]) m.conn.addEventListener("change", () => console.error(`link: ${m.conn.state}${m.conn.trying ? " (trying)" : ""}`));
  await until("the server", () => m.conn.online, 120_000);
  await m.conn.idle();
  await m.lock.run(async () => undefined);
}

/** Nothing of ours waiting to go out (the outbox empty, no commit in flight). */
async function sent(m: Messenger): Promise<void> {
  await until("the message to go out", async () => {
    await m.lock.run(async () => undefined);
    return m.queued === 0;
  }, 120_000);
}

function chatList(m: Messenger): ChatRecord[] {
  return [...m.store.chats.values()].filter((c) => c.joined && !c.removed);
}

function findChat(m: Messenger, name: string): ChatRecord | undefined {
  const chats = chatList(m);
  const address = name.includes("@") ? name : `${name}@${m.domain}`;
  return (
    chats.find((c) => c.id === name) ??
    chats.find((c) => m.chatTitle(c) === name) ??
    chats.find((c) => c.kind === "direct" && c.members.some((p) => p.user === address))
  );
}

async function chatFor(m: Messenger, name: string, create: boolean): Promise<string> {
  const chat = findChat(m, name);
  if (chat !== undefined) return chat.id;
  if (!create) throw new UsageError(`no chat "${name}" (talkee-cli chats lists them)`);
  return m.startDirect(name);
}

function line(m: Messenger, chat: ChatRecord | undefined, msg: LocalMessage, withChat: boolean): string {
  const when = new Date(msg.at).toISOString().slice(0, 19).replace("T", " ");
  const who = msg.mine ? m.user : userOf(msg.sender);
  const body = msg.deleted ? "(deleted)" : msg.unavailable ? "(not readable on this device)" : msg.text;
  const file = msg.file === undefined ? "" : `[file ${msg.file.name}, ${msg.file.size} bytes]${body === "" ? "" : " "}`;
  const where = withChat && chat !== undefined ? `${m.chatTitle(chat)}\t` : "";
  return `${where}${when}\t${who}\t${file}${body}`.replace(/\n/g, "\n\t");
}

function shown(msg: LocalMessage): boolean {
  return msg.notice === undefined && msg.local === undefined;
}

export async function run(args: string[], options: Options): Promise<number> {
  const [command, ...rest] = args;
  if (options.dns !== null) {
    if (command === "register" || command === "login" || command === "send-file" || command === "save-file") {
      process.stderr.write(`talkee-cli: ${command} needs the server over HTTPS (no --dns)\n`);
      return 2;
    }
    dnsOnly();
    carryOverPlainDns(plainDnsWire(parseResolver(options.dns)));
  } else if (options.fallback !== "off") {
    // The ladder's last rung, as in the app, but in plain DNS: when neither the socket nor HTTPS answers.
    const resolver = options.fallback === "system" ? systemResolver() : parseResolver(options.fallback);
    if (resolver !== null) carryOverPlainDns(plainDnsWire(resolver));
  }
  const vault = new VaultFile(options.vault);
  try {
    await vault.load();
  } catch (err) {
    if (!(err instanceof VaultBusyError)) throw err;
    process.stderr.write(`talkee-cli: ${err.message}\n`);
    return 3;
  }
  const session = new Session();
  let messenger: Messenger | null = null;
  try {
    if (command === "register" || command === "login") {
      const user = rest[0];
      if (user === undefined) throw new UsageError(`${command} needs a username`);
      if (await session.isSetUp()) throw new UsageError(`${options.vault} already holds an account`);
      const password = await secret("TALKEE_PASSWORD", "Password: ");
      if (command === "register") {
        const mnemonic = newRecoveryMnemonic();
        messenger = await session.signUp(user, password, mnemonic);
        process.stdout.write(`Signed up as ${messenger.user}.\nRecovery phrase (write it down): ${mnemonic}\n`);
      } else {
        const phrase = options.phrase ? await secret("TALKEE_RECOVERY_PHRASE", "Recovery phrase: ") : undefined;
        messenger = await session.signIn(user, password, phrase);
        if (phrase === undefined) await waitForApproval(messenger);
        process.stdout.write(`Signed in as ${messenger.user}; this device is certified.\n`);
      }
      await synced(messenger);
      return 0;
    }
    if (!(await session.isSetUp())) throw new UsageError(`no account in ${options.vault}: talkee-cli login USER first`);
    messenger = await session.unlock(await secret("TALKEE_PASSWORD", "Password: "));
    const m = messenger;
    await synced(m);
    switch (command) {
      case "chats":
        for (const c of chatList(m)) process.stdout.write(`${c.id}\t${c.kind}\t${m.chatTitle(c)}\n`);
        return 0;
      case "send": {
        const [name, text] = rest;
        if (name === undefined || text === undefined) throw new UsageError("send CHAT TEXT");
        const chatId = await chatFor(m, name, true);
        await m.send(chatId, text);
        await sent(m);
        return 0;
      }
      case "send-file": {
        const [name, path] = rest;
        if (name === undefined || path === undefined) throw new UsageError("send-file CHAT PATH");
        statSync(path);
        const chatId = await chatFor(m, name, true);
        const file = new File([readFileSync(path)], basename(path), { type: "application/octet-stream" });
        await m.sendFile(chatId, file, "");
        await until("the file to go out", () => {
          const failed = m.uploads.inChat(chatId).find((v) => v.phase === "failed");
          if (failed !== undefined) throw new Error(failed.error ?? "the upload failed");
          return m.uploads.inChat(chatId).length === 0;
        }, 600_000);
        await sent(m);
        return 0;
      }
      case "save-file": {
        const [name, fileName, to] = rest;
        if (name === undefined || fileName === undefined) throw new UsageError("save-file CHAT NAME [TO]");
        const chatId = await chatFor(m, name, false);
        const ref = m.store.messagesOf(chatId).filter((msg) => msg.file?.name === fileName).pop()?.file;
        if (ref === undefined) throw new UsageError(`no file "${fileName}" in that chat`);
        const dest = to ?? basename(fileName);
        if (existsSync(dest)) throw new UsageError(`${dest} exists; not overwritten`);
        const bytes = new Uint8Array(await (await m.openFile(ref)).arrayBuffer());
        writeFileSync(dest, bytes, { flag: "wx", mode: 0o600 });
        return 0;
      }
      case "history": {
        const [name] = rest;
        if (name === undefined) throw new UsageError("history CHAT");
        const chatId = await chatFor(m, name, false);
        const chat = m.store.chats.get(chatId);
        for (const msg of m.store.messagesOf(chatId)) if (shown(msg)) process.stdout.write(line(m, chat, msg, false) + "\n");
        return 0;
      }
      case "listen":
        return await listen(m);
      default:
        throw new UsageError(`unknown command "${command ?? ""}"\n\n${USAGE}`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`talkee-cli: ${err.message}\n`);
      return 2;
    }
    throw err;
  } finally {
    messenger?.stop();
    await vault.flush();
  }
}

/** Waits (up to 10 minutes) for another of our devices to approve this one; shows the code to compare. */
async function waitForApproval(m: Messenger): Promise<void> {
  const { code } = await m.approvals.ownCode();
  process.stderr.write(`Approve this device from another of your devices; its code is ${code}\n`);
  await until("approval from another device", () => m.approvals.canApprove(), 600_000);
}

/** Prints every message that arrives from now on, in the chat's order. */
async function listen(m: Messenger): Promise<number> {
  const seen = new Set<string>();
  for (const c of chatList(m)) for (const msg of m.store.messagesOf(c.id)) seen.add(msg.key);
  m.addEventListener("change", (ev) => {
    const { kind, chatId } = (ev as CustomEvent<{ kind: string; chatId?: string }>).detail;
    if (kind !== "messages" || chatId === undefined) return;
    const chat = m.store.chats.get(chatId);
    for (const msg of m.store.messagesOf(chatId)) {
      if (seen.has(msg.key) || !shown(msg) || msg.mine || msg.seq === null) continue;
      seen.add(msg.key);
      process.stdout.write(line(m, chat, msg, true) + "\n");
    }
  });
  process.stderr.write(`Listening as ${m.user} (Ctrl-C ends).\n`);
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  return 0;
}
