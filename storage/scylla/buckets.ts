/**
 * Seq-ordered tables (messages, events, reactions) are partitioned by (room, bucket) with
 * BUCKET_SIZE seqs per bucket: a partition stays bounded (1000 rows of at most a 16 KiB body,
 * so about 16 MiB in the worst case, typically well under 1 MiB) however long a room lives,
 * and a page of history or replay touches one or two partitions.
 */
export const BUCKET_SIZE = 1000

export const bucketOf = (seq: number): number => Math.floor(seq / BUCKET_SIZE)

/** Groups items by the bucket of their seq, buckets in ascending order. */
export const byBucket = <A>(items: ReadonlyArray<A>, seqOf: (a: A) => number): Array<[number, Array<A>]> => {
  const groups = new Map<number, Array<A>>()
  for (const item of items) {
    const b = bucketOf(seqOf(item))
    const group = groups.get(b)
    if (group === undefined) groups.set(b, [item])
    else group.push(item)
  }
  return [...groups].sort(([a], [b]) => a - b)
}
