/**
 * Round-trip time estimate for retransmissions (RFC 6298), shared by every session of a daemon: a
 * fan-out to 10,000 children queues on both ends, and the first acknowledgements teach every pending
 * retransmission timer to wait instead of adding 10,000 copies to the queue.
 */
export class RttEstimator {
  private srtt: number | undefined;
  private rttvar = 0;

  constructor(private readonly minRto: number, private readonly maxRto: number) {}

  /** A measured round trip (only of updates sent once: Karn's rule). */
  sample(ms: number): void {
    if (this.srtt === undefined) {
      this.srtt = ms;
      this.rttvar = ms / 2;
    } else {
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - ms);
      this.srtt = 0.875 * this.srtt + 0.125 * ms;
    }
  }

  /** The current retransmission timeout. */
  get rto(): number {
    if (this.srtt === undefined) return this.minRto;
    return Math.min(this.maxRto, Math.max(this.minRto, this.srtt + 4 * this.rttvar));
  }

  get smoothed(): number | undefined {
    return this.srtt;
  }
}
