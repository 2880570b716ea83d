/**
 * The room bus: the seam through which room actors publish what they committed (and
 * gateways publish ephemeral frames) and through which gateways receive them. The
 * in-process implementation is here; the clustered one (NATS) implements the same Tag.
 *
 * Listeners are called synchronously and must not block: a gateway listener only
 * enqueues to sockets. Events of one room reach a listener in the order published.
 */
import { Context, Effect, Layer, type Scope } from "effect"
import type { ChatEvent, RoomId, UserId } from "../../core/model.ts"

/** `origin` names the socket an ephemeral frame came from, so it is not echoed back. */
export type BusMessage =
  | { readonly _tag: "Event"; readonly event: ChatEvent; readonly frame?: string }
  | { readonly _tag: "Read"; readonly room: RoomId; readonly user: UserId; readonly seq: number; readonly origin?: string }
  | { readonly _tag: "Typing"; readonly room: RoomId; readonly user: UserId; readonly origin?: string }
  /** A user's first live subscription to the room in the cluster began, or their last ended. */
  | { readonly _tag: "Presence"; readonly room: RoomId; readonly user: UserId; readonly online: boolean }

export type BusListener = (message: BusMessage) => void

export interface RoomBus {
  /** Plain and synchronous (every implementation only enqueues): called on the commit path. */
  readonly publish: (room: RoomId, message: BusMessage) => void
  /** Listen to one room until the scope closes. */
  readonly subscribe: (room: RoomId, listener: BusListener) => Effect.Effect<void, never, Scope.Scope>
}

export class RoomBusTag extends Context.Tag("chat/RoomBus")<RoomBusTag, RoomBus>() {}

export const makeInProcess = (): RoomBus => {
  const listeners = new Map<RoomId, Set<BusListener>>()
  return {
    publish: (room, message) => {
      const set = listeners.get(room)
      if (set === undefined) return
      for (const listener of set) {
        try {
          listener(message)
        } catch {
          // A listener that throws is a gateway bug; it must not stop delivery to the others.
        }
      }
    },
    subscribe: (room, listener) =>
      Effect.acquireRelease(
        Effect.sync(() => {
          let set = listeners.get(room)
          if (set === undefined) listeners.set(room, (set = new Set()))
          set.add(listener)
        }),
        () =>
          Effect.sync(() => {
            const set = listeners.get(room)
            if (set === undefined) return
            set.delete(listener)
            if (set.size === 0) listeners.delete(room)
          })
      )
  }
}

export const layerInProcess = Layer.sync(RoomBusTag, makeInProcess)
