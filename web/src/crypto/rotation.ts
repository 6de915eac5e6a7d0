// Key-rotation policy. Member changes always advance the epoch; besides, each
// device self-updates after 7 days or 1,000 messages in a group (post-compromise
// security). Secrets of the previous epoch stay usable for a grace window so
// late messages still decrypt, then they are dropped.

export interface RotationPolicy {
  selfUpdateAfterMs: number;
  selfUpdateAfterMessages: number;
  graceMs: number;
  graceMessages: number;
}

export const DEFAULT_ROTATION_POLICY: RotationPolicy = {
  selfUpdateAfterMs: 7 * 24 * 60 * 60 * 1000,
  selfUpdateAfterMessages: 1000,
  graceMs: 10 * 60 * 1000,
  graceMessages: 100,
};

/** Per-group bookkeeping the worker keeps next to the MLS state. */
export interface RotationState {
  /** When this device last committed (self-update, add or remove) in the group. */
  lastOwnCommitAt: number;
  /** Messages sent or received in the group since then. */
  messagesSinceOwnCommit: number;
  /** Earlier epochs still readable, with when they ended and how many messages the newer epochs have seen since. */
  retiredEpochs: RetiredEpoch[];
}

export interface RetiredEpoch {
  epoch: number;
  retiredAt: number;
  messagesSince: number;
}

export function freshRotationState(now: number): RotationState {
  return { lastOwnCommitAt: now, messagesSinceOwnCommit: 0, retiredEpochs: [] };
}

/** True once this device owes the group a self-update commit. */
export function needsSelfUpdate(state: RotationState, now: number, policy = DEFAULT_ROTATION_POLICY): boolean {
  return (
    now - state.lastOwnCommitAt >= policy.selfUpdateAfterMs ||
    state.messagesSinceOwnCommit >= policy.selfUpdateAfterMessages
  );
}

/** A message was sent or received in the current epoch. */
export function recordMessage(state: RotationState): RotationState {
  return {
    ...state,
    messagesSinceOwnCommit: state.messagesSinceOwnCommit + 1,
    retiredEpochs: state.retiredEpochs.map((e) => ({ ...e, messagesSince: e.messagesSince + 1 })),
  };
}

/** The group moved from `oldEpoch` to a newer one; `ownCommit` resets the self-update clock. */
export function recordEpochChange(state: RotationState, oldEpoch: number, now: number, ownCommit: boolean): RotationState {
  return {
    lastOwnCommitAt: ownCommit ? now : state.lastOwnCommitAt,
    messagesSinceOwnCommit: ownCommit ? 0 : state.messagesSinceOwnCommit,
    retiredEpochs: [...state.retiredEpochs, { epoch: oldEpoch, retiredAt: now, messagesSince: 0 }],
  };
}

function withinGrace(e: RetiredEpoch, now: number, policy: RotationPolicy): boolean {
  return now - e.retiredAt < policy.graceMs && e.messagesSince < policy.graceMessages;
}

/** May a late message from `epoch` still be decrypted? */
export function epochReadable(state: RotationState, epoch: number, currentEpoch: number, now: number, policy = DEFAULT_ROTATION_POLICY): boolean {
  if (epoch === currentEpoch) return true;
  const retired = state.retiredEpochs.find((e) => e.epoch === epoch);
  return retired !== undefined && withinGrace(retired, now, policy);
}

/** Splits retired epochs into those still in grace and those whose secrets must be deleted now. */
export function expireEpochs(state: RotationState, now: number, policy = DEFAULT_ROTATION_POLICY): { state: RotationState; expired: number[] } {
  const keep: RetiredEpoch[] = [];
  const expired: number[] = [];
  for (const e of state.retiredEpochs) {
    if (withinGrace(e, now, policy)) keep.push(e);
    else expired.push(e.epoch);
  }
  return { state: { ...state, retiredEpochs: keep }, expired };
}
