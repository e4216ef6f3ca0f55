/**
 * Request accounting, in plain typed arrays: what a worker adds up per request (cheap: two array
 * increments and a bucket search over a dozen bounds) and hands to the master as a delta every
 * second, and what the master sums over every worker that ever lived, so counters never go back
 * when a worker is replaced.
 *
 * Labels are kept to small fixed sets (10 methods × 6 status classes) so that neither a client
 * sending odd methods nor an app answering odd statuses can grow the series without bound.
 */

export const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'CONNECT', 'TRACE', 'other'] as const;
export const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx', 'other'] as const;
/** Upper bounds in seconds: Prometheus client libraries' default buckets. */
export const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

const N_METHODS = METHODS.length;
const N_CLASSES = STATUS_CLASSES.length;
const OTHER_METHOD = N_METHODS - 1;

export function methodIndex(method: string | undefined): number {
  switch (method) {
    case 'GET':
      return 0;
    case 'HEAD':
      return 1;
    case 'POST':
      return 2;
    case 'PUT':
      return 3;
    case 'DELETE':
      return 4;
    case 'PATCH':
      return 5;
    case 'OPTIONS':
      return 6;
    case 'CONNECT':
      return 7;
    case 'TRACE':
      return 8;
    default:
      return OTHER_METHOD;
  }
}

export function statusClassIndex(status: number): number {
  const c = (status / 100) | 0;
  return c >= 1 && c <= 5 ? c - 1 : N_CLASSES - 1;
}

/** Index of the first bucket whose bound holds `seconds`; DURATION_BUCKETS.length for +Inf. */
export function bucketIndex(seconds: number): number {
  let i = 0;
  while (i < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[i]!) i++;
  return i;
}

/** What a worker sends: counts per [method, status class] slot (sparse), per-bucket counts (not cumulative), the sum of durations. */
export interface RequestDelta {
  /** [slot, count] pairs; slot = method index × 6 + status class index. */
  c: [number, number][];
  /** DURATION_BUCKETS.length + 1 counts, the last for +Inf. */
  b: number[];
  /** Sum of the durations, seconds. */
  s: number;
}

export function slotLabels(slot: number): { method: string; status_class: string } {
  return { method: METHODS[Math.floor(slot / N_CLASSES)]!, status_class: STATUS_CLASSES[slot % N_CLASSES]! };
}

/** A worker's running tally since its last report. */
export class RequestTally {
  private counts = new Float64Array(N_METHODS * N_CLASSES);
  private buckets = new Float64Array(DURATION_BUCKETS.length + 1);
  private sum = 0;
  private dirty = false;

  record(method: string | undefined, status: number, seconds: number): void {
    this.counts[methodIndex(method) * N_CLASSES + statusClassIndex(status)]! += 1;
    this.buckets[bucketIndex(seconds)]! += 1;
    this.sum += seconds;
    this.dirty = true;
  }

  /** What was recorded since the last call (null if nothing), and starts afresh. */
  take(): RequestDelta | null {
    if (!this.dirty) return null;
    const c: [number, number][] = [];
    for (let i = 0; i < this.counts.length; i++) if (this.counts[i]! > 0) c.push([i, this.counts[i]!]);
    const delta: RequestDelta = { c, b: Array.from(this.buckets), s: this.sum };
    this.counts.fill(0);
    this.buckets.fill(0);
    this.sum = 0;
    this.dirty = false;
    return delta;
  }
}

/** The master's sums over every delta received. */
export class RequestTotals {
  readonly counts = new Float64Array(N_METHODS * N_CLASSES);
  readonly buckets = new Float64Array(DURATION_BUCKETS.length + 1);
  sum = 0;

  add(delta: RequestDelta): void {
    for (const pair of delta.c) {
      const [slot, n] = pair;
      if (Number.isInteger(slot) && slot >= 0 && slot < this.counts.length && Number.isFinite(n)) this.counts[slot]! += n;
    }
    for (let i = 0; i < this.buckets.length; i++) {
      const n = delta.b[i];
      if (typeof n === 'number' && Number.isFinite(n)) this.buckets[i]! += n;
    }
    if (Number.isFinite(delta.s)) this.sum += delta.s;
  }

  get count(): number {
    let n = 0;
    for (const b of this.buckets) n += b;
    return n;
  }

  /** Cumulative bucket counts, as Prometheus wants them (`le` bounds then +Inf). */
  cumulative(): number[] {
    const out: number[] = [];
    let acc = 0;
    for (const b of this.buckets) out.push((acc += b));
    return out;
  }
}
