// Deleting a message can be undone for a few seconds: the message is folded into "You
// deleted a message · Undo" at once, and only when the time is up does the deletion go to
// the server (and from there to everyone). Closing the app within that time keeps the
// message — an undo window is a promise not to have sent anything yet.
export const UNDO_MS = 5000;

export interface PendingDeletes {
  /** Fold the message now; delete it for real after UNDO_MS unless undone. */
  start(key: string, commit: () => void): void;
  undo(key: string): void;
  has(key: string): boolean;
}

export function pendingDeletes(changed: () => void, delayMs = UNDO_MS): PendingDeletes {
  const timers = new Map<string, ReturnType<typeof setTimeout>>();
  return {
    start(key, commit) {
      if (timers.has(key)) return;
      timers.set(
        key,
        globalThis.setTimeout(() => {
          timers.delete(key);
          commit();
          changed();
        }, delayMs),
      );
      changed();
    },
    undo(key) {
      const timer = timers.get(key);
      if (timer === undefined) return;
      globalThis.clearTimeout(timer);
      timers.delete(key);
      changed();
    },
    has: (key) => timers.has(key),
  };
}
