// What to tell people when the server ended this device's session and will not let it
// sign in again (the messenger keeps the answer in `accessProblem`; ui/banner shows it).
import { ApiError, humanError } from "../api/client";

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
    title: "You were signed out",
    detail: "This device was signed out from another of your devices. Enter your password to sign in again; this browser keeps your messages.",
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
        title: "Your account is blocked",
        detail: `The administrator of ${domain} blocked this account, so it cannot send or receive messages. Ask them to unblock it, then try again.`,
        retry: true,
      };
    case "invalid_credentials":
      return {
        code,
        title: "Your password was changed",
        detail: "It was changed on another device or with the recovery phrase. Enter the new password to sign in again; this browser keeps your messages.",
        retry: false,
        password: true,
      };
    default:
      return { code, title: "You are signed out", detail: `The server did not let this device sign in again: ${humanError(err)}`, retry: true };
  }
}
