/**
 * Latency histogram in the HDR style: log-linear buckets, 128 per power of two above 256,
 * so a recorded value lands in a bucket at most 1/128 (0.8 %) wide relative to it. Memory
 * is fixed (3,328 counters) whatever the sample count, and histograms from several client
 * processes merge by adding counters. Values are integer microseconds; reported values are
 * bucket midpoints clamped to the exact min/max, in milliseconds.
 */
const SUB_BITS = 8
const SUB = 1 << SUB_BITS // 256: values below this get one bucket each (exact)
const HALF = SUB >> 1 // 128 buckets per power of two above that
// The largest recordable value is 2^32-1 us (71 minutes); bigger ones are clamped.
const MAX_VALUE = 0xffff_ffff
const BUCKETS = (32 - SUB_BITS + 1) * HALF + HALF

const bucketOf = (v: number): number => {
  if (v < SUB) return v
  const msb = 31 - Math.clz32(v)
  const shift = msb - (SUB_BITS - 1)
  return shift * HALF + (v >>> shift)
}

/** [lowest value, width] of a bucket. */
const rangeOf = (b: number): [number, number] => {
  if (b < SUB) return [b, 1]
  const shift = Math.floor(b / HALF) - 1
  const mantissa = b - shift * HALF
  return [mantissa * 2 ** shift, 2 ** shift]
}

/** The wire form between processes: only non-empty buckets. */
export interface HistogramData {
  readonly buckets: ReadonlyArray<readonly [number, number]>
  readonly count: number
  readonly min: number
  readonly max: number
  readonly sum: number
}

export interface LatencySummary {
  readonly count: number
  readonly p50: number
  readonly p90: number
  readonly p99: number
  /** 99.9th percentile (optional: results written before it existed lack it). */
  readonly p999?: number
  readonly max: number
  readonly mean: number
}

export class Histogram {
  private readonly counts = new Float64Array(BUCKETS)
  count = 0
  min = Number.POSITIVE_INFINITY
  max = 0
  sum = 0

  /** Records one value in microseconds; negatives (cross-process clock noise) count as 0. */
  record(us: number): void {
    const v = us <= 0 ? 0 : us >= MAX_VALUE ? MAX_VALUE : Math.round(us)
    this.counts[bucketOf(v)]++
    this.count++
    this.sum += v
    if (v < this.min) this.min = v
    if (v > this.max) this.max = v
  }

  merge(d: HistogramData): void {
    for (const [b, n] of d.buckets) this.counts[b] += n
    this.count += d.count
    this.sum += d.sum
    if (d.count > 0) {
      if (d.min < this.min) this.min = d.min
      if (d.max > this.max) this.max = d.max
    }
  }

  /** Value at percentile p (0..100), microseconds. */
  percentile(p: number): number {
    if (this.count === 0) return 0
    const rank = Math.max(1, Math.ceil((p / 100) * this.count))
    let seen = 0
    for (let b = 0; b < BUCKETS; b++) {
      seen += this.counts[b]
      if (seen >= rank) {
        const [low, width] = rangeOf(b)
        const mid = low + (width - 1) / 2
        return Math.min(this.max, Math.max(this.min, mid))
      }
    }
    return this.max
  }

  toData(): HistogramData {
    const buckets: Array<[number, number]> = []
    for (let b = 0; b < BUCKETS; b++) if (this.counts[b] > 0) buckets.push([b, this.counts[b]])
    return { buckets, count: this.count, min: this.count === 0 ? 0 : this.min, max: this.max, sum: this.sum }
  }

  /** Milliseconds, rounded to 0.01 ms. */
  summary(): LatencySummary {
    const ms = (us: number) => Math.round(us / 10) / 100
    return {
      count: this.count,
      p50: ms(this.percentile(50)),
      p90: ms(this.percentile(90)),
      p99: ms(this.percentile(99)),
      p999: ms(this.percentile(99.9)),
      max: ms(this.count === 0 ? 0 : this.max),
      mean: ms(this.count === 0 ? 0 : this.sum / this.count)
    }
  }

  static from(parts: ReadonlyArray<HistogramData>): Histogram {
    const h = new Histogram()
    for (const p of parts) h.merge(p)
    return h
  }
}

/**
 * Percentiles of a small sample kept whole and sorted (history queries and cold starts: a
 * few thousand values at most), nearest-rank, exact. Input and output in milliseconds.
 */
export const summarise = (valuesMs: ReadonlyArray<number>): LatencySummary => {
  const sorted = [...valuesMs].sort((a, b) => a - b)
  const n = sorted.length
  const at = (p: number) => (n === 0 ? 0 : sorted[Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1))])
  const r = (v: number) => Math.round(v * 100) / 100
  return {
    count: n,
    p50: r(at(50)),
    p90: r(at(90)),
    p99: r(at(99)),
    p999: r(at(99.9)),
    max: r(n === 0 ? 0 : sorted[n - 1]),
    mean: r(n === 0 ? 0 : sorted.reduce((a, b) => a + b, 0) / n)
  }
}
