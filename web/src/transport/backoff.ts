// Waits between reconnection attempts: exponential, capped, with jitter (as Synapse backs
// off per destination), so a device does not hammer a server that is down and the devices
// that lost one server do not all come back in the same second.

export class Backoff {
  private attempt = 0;

  constructor(
    private readonly baseMs: number,
    private readonly capMs: number,
    private readonly random: () => number = Math.random,
  ) {}

  /** The wait before the next attempt: base · 2ⁿ capped, of which the upper half is random ("equal jitter"). */
  next(): number {
    const ceiling = Math.min(this.capMs, this.baseMs * 2 ** this.attempt);
    if (ceiling < this.capMs) this.attempt += 1;
    return Math.round(ceiling / 2 + (this.random() * ceiling) / 2);
  }

  /** Back to the shortest wait (the network came back, the person is looking, or asked). */
  reset(): void {
    this.attempt = 0;
  }
}
