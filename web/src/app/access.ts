// What to tell people when the server ended this device's session and will not let it
// sign in again (the messenger keeps the answer in `accessProblem`; ui/banner shows it).
import { ApiError, NetworkError, humanError, isPassing } from "../api/client";
import { sleep } from "./context";
import { t } from "../i18n/index";

export interface AccessProblem {
  code: string;
  title: string;
  detail: string;
  /** Trying again can help (a block can be lifted; a changed password does not come back). */
  retry: boolean;
  /** Only the password, typed by the person, signs this device in again. */
  password?: boolean;
}

/** The person signed this device out from another of theirs (socket closed 4002). */
export function signedOutProblem(): AccessProblem {
  return {
    code: "signed_out",
    title: t("access.signedOut"),
    detail: t("access.signedOutText"),
    retry: false,
    password: true,
  };
}

/** Why signing in again was refused, in words for people. */
export function accessProblemOf(err: unknown, domain: string): AccessProblem {
  const code = err instanceof ApiError ? err.code : "error";
  switch (code) {
    case "signed_out":
      return signedOutProblem();
    case "account_blocked":
      return {
        code,
        title: t("access.blocked"),
        detail: t("access.blockedText", { domain }),
        retry: true,
      };
    case "invalid_credentials":
      return {
        code,
        title: t("access.passwordChanged"),
        detail: t("access.passwordChangedText"),
        retry: false,
        password: true,
      };
    default:
      return { code, title: t("access.refused"), detail: t("access.refusedText", { error: humanError(err) }), retry: true };
  }
}

export interface ReauthDeps {
  domain(): string;
  /** Signs this device in again: with the password it holds, or with one the person typed. */
  relogin(password?: string): Promise<void>;
  /** Signed in again: the link starts over. */
  reconnect(): void;
  emit(kind: "link" | "revoked"): void;
  stopped(): boolean;
}

/**
 * Signing this device in again when its token died (socket closed 4001/4003, or a 401). A
 * refusal (blocked account, revoked device, changed password) is kept in `problem` for the
 * UI to say so; a network problem or a busy server is retried with a growing pause.
 */
export class Reauth {
  /** Set when the server ended this device's session and signing in again was refused. */
  problem: AccessProblem | null = null;
  private recovery: Promise<void> | null = null;

  constructor(private readonly deps: ReauthDeps) {}

  recover(): Promise<void> {
    // Signed out by the person: only the password they type brings this device back (signInAgain).
    if (this.problem?.password === true) return Promise.resolve();
    if (this.recovery === null) this.recovery = this.loop().finally(() => (this.recovery = null));
    return this.recovery;
  }

  /** The socket closed 4002: the person signed this device out from another of their devices. */
  signedOut(): void {
    this.problem = signedOutProblem();
    this.deps.emit("link");
  }

  /**
   * The person typed their password after a sign-out or a password change elsewhere. A
   * wrong one throws (ApiError `invalid_credentials`) and the notice stays.
   */
  async signInAgain(password: string): Promise<void> {
    if (this.recovery !== null) await this.recovery;
    await this.deps.relogin(password);
    this.signedIn();
  }

  /** The person's "Try again": after any attempt already on its way, one of our own. */
  async retry(): Promise<void> {
    if (this.recovery !== null) await this.recovery;
    if (this.problem !== null) await this.recover();
  }

  private signedIn(): void {
    this.problem = null;
    this.deps.emit("link");
    this.deps.reconnect();
  }

  private async loop(): Promise<void> {
    for (let attempt = 0; !this.deps.stopped(); attempt++) {
      try {
        await this.deps.relogin();
        this.signedIn();
        return;
      } catch (err) {
        if (err instanceof NetworkError || isPassing(err)) {
          await sleep(Math.min(30_000, 2000 * 2 ** attempt));
          continue;
        }
        if (err instanceof ApiError && err.code === "device_revoked") {
          // Revoked (from another device or by the administrator): nothing here may outlive it.
          this.deps.emit("revoked");
          return;
        }
        this.problem = accessProblemOf(err, this.deps.domain());
        this.deps.emit("link");
        return;
      }
    }
  }
}
