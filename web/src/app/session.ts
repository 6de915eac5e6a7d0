// Onboarding and the device session: sign up (with the recovery phrase), sign
// in as this device, unlock after a reload, recover, sign out (wipe).
import type { Remote } from "comlink";
import { Api, ApiError } from "../api/client";
import { toBase64 } from "../crypto/encoding";
import { recoveryEntropy, recoveryHash, recoveryProof } from "../crypto/recovery";
import type { MlsWorkerApi } from "../mls/api";
import { startMlsWorker, type MlsWorkerHandle } from "../mls/client";
import { DEFAULT_VAULT_DB } from "../vault/vault";
import { KEYPACKAGE_POOL, Messenger } from "./messenger";
import { AppStore } from "./store";

/** What Settings → Your devices calls this browser ("Chrome on Linux"); no version numbers. */
export function deviceLabel(userAgent: string): string {
  const browsers: Array<[RegExp, string]> = [
    [/talkee-cli/, "Talkee CLI"],
    [/Edg\//, "Edge"],
    [/Firefox\//, "Firefox"],
    [/Chrom(e|ium)\//, "Chrome"],
    [/Safari\//, "Safari"],
  ];
  const systems: Array<[RegExp, string]> = [
    [/Android/, "Android"],
    [/iPhone|iPad/, "iOS"],
    [/CrOS/, "ChromeOS"],
    [/Mac OS X/, "macOS"],
    [/Windows/, "Windows"],
    [/Linux/, "Linux"],
  ];
  const browser = browsers.find(([re]) => re.test(userAgent))?.[1] ?? "Browser";
  const system = systems.find(([re]) => re.test(userAgent))?.[1];
  return system === undefined ? browser : `${browser} on ${system}`;
}

/**
 * Which account this browser holds, for the lock screen ("Unlock alice@example.org"): the
 * session row is sealed in the vault, so the address is also kept beside it in plain
 * localStorage — only the address (the server knows it anyway), nothing of what is said.
 */
export const ACCOUNT_KEY = "talkee.account";

function rememberAccount(user: string | null): void {
  try {
    if (user === null) localStorage.removeItem(ACCOUNT_KEY);
    else localStorage.setItem(ACCOUNT_KEY, user);
  } catch {
    /* storage refused (private mode): the lock screen names no account */
  }
}

export class Session {
  readonly api = new Api();
  private worker: MlsWorkerHandle = startMlsWorker();
  // Kept in memory only while the app is open, to log this device in again when its token dies.
  private password: string | null = null;
  store: AppStore = new AppStore(this.worker.api);
  messenger: Messenger | null = null;

  get mls(): Remote<MlsWorkerApi> {
    return this.worker.api;
  }

  isSetUp(): Promise<boolean> {
    return this.mls.isSetUp();
  }

  /** The account the vault on this browser belongs to (null: not known before it is unlocked). */
  account(): string | null {
    try {
      return localStorage.getItem(ACCOUNT_KEY);
    } catch {
      return null;
    }
  }

  private async fullAddress(username: string): Promise<string> {
    const name = username.trim().toLowerCase();
    if (name.includes("@")) return name;
    const { domain } = await this.api.serverInfo();
    return `${name}@${domain}`;
  }

  /** New account: the phrase was shown and confirmed; register, then log this device in. */
  async signUp(username: string, password: string, mnemonic: string): Promise<Messenger> {
    const localpart = username.trim().toLowerCase();
    const hash = await recoveryHash(localpart, mnemonic);
    const { user } = await this.api.register(localpart, password, hash);
    return this.setUpDevice(user, password, mnemonic);
  }

  /**
   * Signs in on this browser as a new device. With the recovery phrase the device derives
   * the account's identity key and certifies itself: other people's clients add it. Without,
   * it waits, uncertified, until another of the user's devices approves it (ui/approval.ts).
   */
  async signIn(username: string, password: string, mnemonic?: string): Promise<Messenger> {
    const user = await this.fullAddress(username);
    if (mnemonic !== undefined && mnemonic.trim() !== "") recoveryEntropy(mnemonic); // a bad phrase fails before anything is made
    return this.setUpDevice(user, password, mnemonic?.trim() === "" ? undefined : mnemonic);
  }

  async recover(username: string, mnemonic: string, newPassword: string): Promise<void> {
    const localpart = username.trim().toLowerCase().split("@")[0] ?? "";
    const proof = await recoveryProof(localpart, mnemonic);
    await this.api.recover(localpart, proof, newPassword);
  }

  private async setUpDevice(user: string, password: string, mnemonic?: string): Promise<Messenger> {
    const clientDeviceId = crypto.randomUUID();
    await this.mls.setupDevice({ password, user, deviceId: clientDeviceId });
    this.store = new AppStore(this.mls);
    this.store.session = { user, token: null, deviceId: null, clientDeviceId, cursor: 0 };
    await this.store.saveSession();
    this.password = password;
    try {
      await this.logIn(mnemonic);
    } catch (err) {
      await this.wipe();
      throw err;
    }
    return this.begin();
  }

  /** The identity key from the phrase (kept in the vault, never sent) signs this device's certificate. */
  private async certifyThisDevice(user: string, mnemonic: string): Promise<void> {
    const deviceId = this.store.session?.deviceId;
    if (deviceId === null || deviceId === undefined) throw new Error("no device id");
    const { identityKey, certificate } = await this.mls.adoptIdentity(user, mnemonic);
    await this.api.setCertificate(deviceId, identityKey, certificate);
  }

  /** After a reload: the password opens the vault and everything comes back from it. */
  async unlock(password: string): Promise<Messenger> {
    await this.mls.unlock(password);
    this.password = password;
    this.store = new AppStore(this.mls);
    await this.store.load();
    if (this.store.session === null) throw new Error("This browser holds no account.");
    rememberAccount(this.store.session.user); // a vault from before the lock screen named it
    this.api.token = this.store.session.token;
    if (this.store.session.token === null) await this.logIn().catch(() => undefined);
    return this.begin();
  }

  /**
   * With `mnemonic` (a new device): its certificate goes up before its KeyPackages, so no
   * claimer sees them uncertified. `interactive`: the person typed the password just now;
   * false when the app signs itself in again with the one it kept (refused, 401
   * `signed_out`, for a device signed out from another one).
   */
  private async logIn(mnemonic?: string, interactive = true): Promise<void> {
    const session = this.store.session;
    if (session === null || this.password === null) throw new Error("no session");
    const identity = await this.mls.deviceIdentity();
    const { nonce } = await this.api.challenge(session.user);
    const signature = await this.mls.signChallenge(nonce);
    const answer = await this.api.login({
      username: session.user,
      password: this.password,
      device: {
        client_device_id: session.clientDeviceId,
        ed25519_pub: identity.ed25519Pub,
        x25519_pub: identity.x25519Pub,
        label: deviceLabel(navigator.userAgent),
      },
      nonce,
      signature,
      interactive,
    });
    const fresh = session.deviceId !== answer.device_id;
    session.token = answer.token;
    session.deviceId = answer.device_id;
    session.user = answer.user;
    this.api.token = answer.token;
    await this.store.saveSession();
    rememberAccount(session.user);
    if (fresh && mnemonic !== undefined) await this.certifyThisDevice(session.user, mnemonic);
    if (fresh) {
      const kps = await this.mls.makeKeyPackages(KEYPACKAGE_POOL);
      await this.api.uploadKeyPackages(kps.map((k) => toBase64(k)));
    }
  }

  /**
   * Signs this device in again (its token died). With a password the person typed (after a
   * sign-out or a password change elsewhere) that differs from the one that opened the
   * vault, the vault's key is re-wrapped under it once the server took it, so the next
   * unlock here asks for the account's password, not an old one.
   */
  private async logInAgain(password?: string): Promise<void> {
    const held = this.password;
    if (password === undefined) return this.logIn(undefined, false);
    if (password === held) return this.logIn();
    this.password = password;
    try {
      await this.logIn();
    } catch (err) {
      this.password = held;
      throw err;
    }
    if (held !== null) await this.mls.changePassword(held, password);
  }

  /**
   * Settings → Change password: the server checks the current one (403 `wrong_password`)
   * and stores the new one; then this device's vault key is re-wrapped under it. Other
   * devices keep their vault and need the new password at their next sign-in.
   */
  async changePassword(current: string, next: string, logOutOthers: boolean): Promise<number> {
    const vaultPassword = this.password ?? current;
    const { signed_out } = await this.api.changePassword(current, next, logOutOthers);
    await this.mls.changePassword(vaultPassword, next);
    this.password = next;
    return signed_out;
  }

  /**
   * Settings → Delete account: the server checks the password (403 `wrong_password`) and
   * deletes the account; then this browser forgets it (vault, keys, messages). The other
   * devices' sockets close with 4004 and they wipe themselves too.
   */
  async deleteAccount(password: string): Promise<void> {
    await this.api.deleteAccount(password);
    this.messenger?.stop();
    await this.wipe();
  }

  private async begin(): Promise<Messenger> {
    const identity = await this.mls.deviceIdentity();
    this.messenger = new Messenger(this.api, this.mls, this.store, identity.credential, (password) => this.logInAgain(password));
    await this.messenger.start();
    return this.messenger;
  }

  async signOut(): Promise<void> {
    this.messenger?.stop();
    try {
      // No more pushes to a browser that forgot the account (the device row outlives the session).
      if (this.api.token !== null) await this.api.pushUnsubscribe().catch(() => undefined);
      if (this.api.token !== null) await this.api.logout();
    } catch (err) {
      if (!(err instanceof ApiError)) {
        /* offline: the token dies with the wipe on this side; the server expires it */
      }
    }
    await this.wipe();
  }

  /** Forgets everything on this browser: keys, MLS state, messages. */
  async wipe(): Promise<void> {
    try {
      await this.mls.lock();
    } catch {
      /* already locked */
    }
    this.worker.terminate();
    // The browser's push subscription belonged to this device: nothing may wake it any more.
    if (typeof navigator !== "undefined" && "serviceWorker" in navigator) {
      try {
        const registration = await navigator.serviceWorker.getRegistration();
        await (await registration?.pushManager?.getSubscription())?.unsubscribe();
      } catch {
        /* no worker or no push support */
      }
    }
    await new Promise<void>((resolve) => {
      const req = indexedDB.deleteDatabase(DEFAULT_VAULT_DB);
      req.onsuccess = req.onerror = req.onblocked = () => resolve();
    });
    rememberAccount(null);
    this.worker = startMlsWorker();
    this.password = null;
    this.api.token = null;
    this.store = new AppStore(this.mls);
  }
}
