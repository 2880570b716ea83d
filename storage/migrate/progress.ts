/** How the backfill's progress reads: one line, for a redrawn TTY line or a plain log line. */
import type { BackfillProgress } from "./backfill.ts"

const duration = (seconds: number): string => {
  if (!Number.isFinite(seconds)) return "?"
  const s = Math.round(seconds)
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`
}

const bar = (done: number, total: number, width = 20): string => {
  const filled = total === 0 ? width : Math.min(width, Math.round((done / total) * width))
  return `[${"#".repeat(filled)}${"-".repeat(width - filled)}]`
}

export const formatProgress = (p: BackfillProgress, withBar: boolean): string => {
  const seconds = Math.max(0.001, (p.now - p.startedAt) / 1000)
  // The rate counts this run's messages only: work resumed from checkpoints took no time now.
  const rate = (p.messagesDone - p.messagesAtStart) / seconds
  const left = Math.max(0, p.messagesTotal - p.messagesDone)
  const eta = left === 0 ? 0 : rate > 0 ? left / rate : Number.POSITIVE_INFINITY
  return [
    withBar ? bar(p.messagesDone, p.messagesTotal) : undefined,
    `rooms ${p.roomsDone}/${p.roomsTotal}`,
    `messages ${p.messagesDone}/${p.messagesTotal}`,
    `${Math.round(rate)} msg/s`,
    `ETA ${duration(eta)}`
  ]
    .filter((x) => x !== undefined)
    .join("  ")
}
