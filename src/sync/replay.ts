/**
 * Anti-replay window (as in IPsec, RFC 4303 §3.4.3): accepts each sequence number at most once, and
 * nothing older than `size` behind the highest seen. Sequence numbers start at 1; 0 is never valid.
 */
export class ReplayWindow {
  private highest = 0;
  private readonly bits: Uint32Array;

  constructor(readonly size = 1024) {
    if (size % 32 !== 0) throw new Error('replay window size must be a multiple of 32');
    this.bits = new Uint32Array(size / 32);
  }

  /** Would this sequence number be accepted? (Does not record it.) */
  check(seq: number): boolean {
    if (seq <= 0) return false;
    if (seq > this.highest) return true;
    const behind = this.highest - seq;
    if (behind >= this.size) return false;
    return !this.get(seq);
  }

  /** Records a sequence number that was checked and authenticated. */
  accept(seq: number): void {
    if (seq > this.highest) {
      const shift = seq - this.highest;
      if (shift >= this.size) this.bits.fill(0);
      else for (let s = this.highest + 1; s < seq; s++) this.clear(s);
      this.highest = seq;
    }
    this.set(seq);
  }

  get last(): number {
    return this.highest;
  }

  private get(seq: number): boolean {
    const i = seq % this.size;
    return (this.bits[i >>> 5]! & (1 << (i & 31))) !== 0;
  }

  private set(seq: number): void {
    const i = seq % this.size;
    this.bits[i >>> 5]! |= 1 << (i & 31);
  }

  private clear(seq: number): void {
    const i = seq % this.size;
    this.bits[i >>> 5]! &= ~(1 << (i & 31));
  }
}
