-- Clustered mode: the fencing epoch of each virtual shard. A new shard owner raises it
-- before serving the shard; commits carry their owner's epoch and are refused when it is
-- lower (see storage/sql/commit.ts). Rows appear on first use.
CREATE TABLE IF NOT EXISTS shard_fences (
  shard integer PRIMARY KEY,
  epoch bigint NOT NULL
);
