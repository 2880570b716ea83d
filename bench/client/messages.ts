/** The IPC messages between the bench orchestrator and its client processes (bench/client/worker.ts). */
import type { HistogramData } from "../lib/histogram.ts"
import type { Protocol } from "../lib/servers.ts"

export interface ConnSpec {
  /** JWT subject (our server); ignored by the peers. */
  readonly user: string
  /** Bearer token for `user` (our server only), signed by the orchestrator with signToken. */
  readonly token?: string
  /** The room as the server names it (a UUID for ours, 8 characters for raw ws). */
  readonly room: string
  readonly sender: boolean
  /**
   * A sender's place among all senders, k / senders in [0, 1): offsets its schedule so the
   * senders' messages interleave evenly and the total per step is the same however the
   * senders are split over client processes.
   */
  readonly phase?: number
  /** A sender's number, unique in the run: written in each body for the order and duplicate checks. */
  readonly senderId?: number
  /** This sender's share of the step rate relative to the others (default 1; the Zipf scenario). */
  readonly weight?: number
  /** Dropped and resumed with `since` in the reconnect storm. */
  readonly stormer?: boolean
  /** The node this connection goes to, when not the pool's URL (two nodes behind NATS). */
  readonly url?: string
  /** Source address (127.0.0.x) to spread many connections over several ephemeral port ranges. */
  readonly localAddress?: string
}

export type ToWorker =
  | {
      readonly rid: number
      readonly type: "init"
      readonly protocol: Protocol
      readonly url: string
      readonly conns: ReadonlyArray<ConnSpec>
      readonly bodyBytes: number
      readonly connectConcurrency: number
    }
  | {
      readonly rid: number
      readonly type: "step"
      readonly step: number
      /** Messages per second per sending connection. */
      readonly ratePerSender: number
      readonly durationMs: number
      /** Hard cap per sender: every load loop is bounded in count as well as time. */
      readonly maxPerSender: number
    }
  | { readonly rid: number; readonly type: "collect"; readonly step: number; readonly final: boolean }
  /** Drop every stormer connection at once, wait dropMs, reconnect them all and resume. */
  | { readonly rid: number; readonly type: "storm"; readonly dropMs: number }
  | { readonly rid: number; readonly type: "shutdown" }

export interface Ready {
  readonly type: "ready"
  readonly connected: number
  readonly failed: number
  readonly firstError?: string
  readonly connectMs: number
}

export interface Sent {
  readonly type: "sent"
  readonly step: number
  readonly sentByRoom: Readonly<Record<string, number>>
  readonly sent: number
  readonly windowMs: number
}

export interface Stats {
  readonly type: "stats"
  readonly step: number
  readonly sent: number
  readonly received: number
  readonly acks: number
  /** Sends answered with an error, by error code. */
  readonly errors: Readonly<Record<string, number>>
  /** Deliveries of a message this connection already had (same sender, same n). */
  readonly duplicates: number
  /** Deliveries that arrived after a later message of the same sender on the same connection. */
  readonly reordered: number
  readonly e2e: HistogramData
  readonly ack: HistogramData
  /** How late sends ran behind their schedule (µs). */
  readonly lateness: HistogramData
  /** Event-loop utilisation of this client process since the step started (0..1). */
  readonly elu: number
  /** Connections closed by the server since the step started. */
  readonly disconnects: number
  /** Deliveries of steps already collected (counted as lost there). */
  readonly late: number
}

export interface Stormed {
  readonly type: "stormed"
  readonly stormers: number
  readonly failed: number
  readonly firstError?: string
  /** Connect to subscribed of each resumed connection, µs. */
  readonly reconnect: HistogramData
  /** From the drop to the last connection subscribed again, ms. */
  readonly wallMs: number
}

export type FromWorker = (Ready | Sent | Stats | Stormed | { readonly type: "bye" } | { readonly type: "error"; readonly message: string }) & {
  readonly rid: number
}
