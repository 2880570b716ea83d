/** The push worker's metrics (rendered by /metrics with the others). Labels: provider, outcome. */
import { Metric } from "effect"
import { labelled } from "../metrics/metrics.ts"

export const notifications = Metric.counter("chat_push_notifications_total", {
  description: "Push notifications by provider (apns, fcm, webpush) and outcome (sent, failed, retried, pruned).",
  incremental: true
})

export const queueDepth = Metric.gauge("chat_push_queue_depth", { description: "Push intents waiting in the store's queue." })

export const oldestIntentAge = Metric.gauge("chat_push_oldest_intent_age_seconds", {
  description: "Age of the oldest push intent in the queue, in seconds (0 when empty)."
})

export type Outcome = "sent" | "failed" | "retried" | "pruned"

const counters = new Map<string, (n: number) => void>()

/** The tagged counter, made once per (provider, outcome): not per notification. */
export const count = (provider: string, outcome: Outcome) => {
  const key = `${provider}/${outcome}`
  let c = counters.get(key)
  if (c === undefined) {
    c = labelled(notifications, { provider, outcome })
    counters.set(key, c)
  }
  c(1)
}
