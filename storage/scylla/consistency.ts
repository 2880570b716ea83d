/** Cassandra/ScyllaDB consistency levels, as cassandra-driver names them (CHAT_SCYLLA_CONSISTENCY). */
export const CONSISTENCIES = [
  "ANY", "ONE", "TWO", "THREE", "QUORUM", "ALL", "LOCAL_QUORUM", "EACH_QUORUM", "SERIAL", "LOCAL_SERIAL", "LOCAL_ONE"
] as const
export type Consistency = (typeof CONSISTENCIES)[number]
