// The people this user blocked. The server keeps the list (only this user can read it,
// `GET /v1/blocks`) and refuses what it can see: their new direct chat with us, their
// invitations of us, their messages in our direct chat (403 `not_accepted`). It cannot tell
// who wrote a group message, so this module is how the app hides the rest: their messages
// in shared groups are kept but shown folded (and neither counted unread nor previewed),
// and their calls do not ring.
import type { Api } from "../api/client";

export interface BlocksDeps {
  readonly api: Pick<Api, "blocks" | "block" | "unblock">;
  /** The list changed (the UI re-renders). */
  changed(): void;
}

export class Blocks {
  private users = new Set<string>();

  constructor(private readonly deps: BlocksDeps) {}

  /** True when `user` (a full address) is blocked. */
  has(user: string): boolean {
    return this.users.has(user);
  }

  /** The blocked addresses, as the server lists them (oldest first). */
  list(): string[] {
    return [...this.users];
  }

  async load(): Promise<void> {
    const rows = await this.deps.api.blocks();
    this.users = new Set(rows.map((r) => r.user));
    this.deps.changed();
  }

  async block(user: string): Promise<void> {
    const row = await this.deps.api.block(user);
    this.users.add(row.user);
    this.deps.changed();
  }

  async unblock(user: string): Promise<void> {
    await this.deps.api.unblock(user);
    this.users.delete(user);
    this.deps.changed();
  }
}
