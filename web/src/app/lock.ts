// One at a time, in the order asked: the messenger's inbound frames and our own commits
// take turns through this lock. A commit forwarded to the chat's home waits for the home's
// answer, which comes as a frame processed under the same lock: it lets go meanwhile
// (`releasedUntil`) and takes its turn again afterwards.

export class TurnLock {
  private held = false;
  private queue: (() => void)[] = [];

  async run<T>(fn: () => Promise<T>): Promise<T> {
    await this.acquire();
    try {
      return await fn();
    } finally {
      this.release();
    }
  }

  /** Inside run(): the others have the lock until `until` settles; then it is ours again (in line). */
  async releasedUntil<T>(until: Promise<T>): Promise<T> {
    this.release();
    try {
      return await until;
    } finally {
      await this.acquire();
    }
  }

  private async acquire(): Promise<void> {
    if (!this.held) {
      this.held = true;
      return;
    }
    await new Promise<void>((resolve) => this.queue.push(resolve));
  }

  private release(): void {
    const next = this.queue.shift();
    if (next !== undefined) next(); // handed over: still held
    else this.held = false;
  }
}
