// What to tell people when the server ended this device's session and will not let it
// sign in again (the messenger keeps the answer in `accessProblem`; ui/banner shows it).
import { ApiError, humanError } from "../api/client";

export interface AccessProblem {
  code: string;
  title: string;
  detail: string;
  /** Trying again can help (a block can be lifted; a changed password does not come back). */
  retry: boolean;
}

/** Why signing in again was refused, in words for people. */
export function accessProblemOf(err: unknown, domain: string): AccessProblem {
  const code = err instanceof ApiError ? err.code : "error";
  switch (code) {
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
        detail: "It was changed on another device or with the recovery phrase. Sign out here and sign in again with the new password.",
        retry: false,
      };
    default:
      return { code, title: "You are signed out", detail: `The server did not let this device sign in again: ${humanError(err)}`, retry: true };
  }
}
