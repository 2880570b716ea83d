/**
 * The web chat: plain DOM on top of the SDK (clients/js). State per room is a map of
 * messages by seq, filled by the room's events (exactly once, in order, thanks to the SDK)
 * and by history pages when scrolling up; each message's element is replaced when it changes.
 */
import { ChatError, connect, type ChatClient, type ChatEvent, type ChatRoom, type Message, type RoomSummary } from "../../js/src/index.ts"

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T

const TOKEN_KEY = "chat.token"
const DEV_USER_KEY = "chat.devUser"
const REACTIONS = ["👍", "❤️", "😂"]

interface RoomView {
  readonly room: ChatRoom
  readonly messages: Map<number, Message>
  /** Lowest seq loaded from history; undefined before the first page. */
  oldest: number | undefined
  hasMore: boolean
  loading: boolean
  readonly readBy: Map<string, number>
  readonly online: Set<string>
  readonly typing: Map<string, number>
  pages: AsyncGenerator<Message[]> | undefined
}

let client: ChatClient | undefined
let me = ""
let summaries: RoomSummary[] = []
const views = new Map<string, RoomView>()
let current: string | undefined
let replyTo: Message | undefined
let editing: Message | undefined

// --- sign in -------------------------------------------------------------------------

const devTokens = async (): Promise<boolean> => {
  try {
    return (await fetch("/v1/dev")).ok
  } catch {
    return false
  }
}

const mintDevToken = async (user: string): Promise<string> => {
  const r = await fetch("/v1/dev/token", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ user })
  })
  if (!r.ok) throw new Error((await r.json().catch(() => undefined))?.error?.message ?? `HTTP ${r.status}`)
  return (await r.json()).token
}

const showSignIn = async (error = "") => {
  $("app").hidden = true
  $("signin").hidden = false
  $("signin-error").textContent = error
  $("dev-form").hidden = !(await devTokens())
  ;(($("dev-form").hidden ? $("token-input") : $("dev-name")) as HTMLInputElement).focus()
}

const start = (token: string | undefined, devUser: string | undefined) => {
  // sessionStorage: per tab, so two windows of one browser can be two users.
  client = connect({
    url: location.origin,
    ...(devUser !== undefined
      ? {
          getToken: async () => {
            const t = await mintDevToken(devUser)
            sessionStorage.setItem(TOKEN_KEY, t)
            return t
          }
        }
      : { token: token! }),
    pingIntervalMs: 10_000,
    backoff: { initialMs: 300, maxMs: 8_000 }
  })
  client.on("state", ({ state, delayMs }) => {
    const banner = $("banner")
    if (state === "open") {
      banner.hidden = true
      banner.textContent = ""
      document.body.dataset.connection = "open"
      void refreshRooms()
    } else if (state === "reconnecting") {
      banner.hidden = false
      banner.textContent = `Connection lost. Reconnecting${delayMs ? ` in ${Math.ceil(delayMs / 1000)} s` : ""}…`
      document.body.dataset.connection = "reconnecting"
    }
  })
  client.on("error", (e) => {
    if (e.code === "unauthorized") {
      sessionStorage.removeItem(TOKEN_KEY)
      client?.close()
      void showSignIn("Your token was refused (expired or invalid). Sign in again.")
    }
  })
  // The protocol has no event for "you were added to a room": the list is fetched again
  // every few seconds (and on every event of a followed room).
  setInterval(() => {
    if (client?.state === "open") void refreshRooms()
  }, 4_000)
  $("signin").hidden = true
  $("app").hidden = false
  document.body.dataset.view = "rooms"
  void (async () => {
    if (devUser === undefined) me = tokenSub(token!) ?? "?"
    else me = devUser
    $("me").textContent = me
    await refreshRooms()
  })()
}

const tokenSub = (token: string): string | undefined => {
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")
    return JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(payload), (c) => c.charCodeAt(0)))).sub
  } catch {
    return undefined
  }
}

$("dev-form").addEventListener("submit", (e) => {
  e.preventDefault()
  const name = ($("dev-name") as HTMLInputElement).value.trim()
  if (name === "") return
  sessionStorage.setItem(DEV_USER_KEY, name)
  start(undefined, name)
})
$("token-form").addEventListener("submit", (e) => {
  e.preventDefault()
  const token = ($("token-input") as HTMLTextAreaElement).value.trim()
  sessionStorage.setItem(TOKEN_KEY, token)
  sessionStorage.removeItem(DEV_USER_KEY)
  start(token, undefined)
})
$("signout").addEventListener("click", () => {
  sessionStorage.clear()
  location.reload()
})

// --- room list -----------------------------------------------------------------------

let refreshTimer: ReturnType<typeof setTimeout> | undefined
const scheduleRefresh = () => {
  clearTimeout(refreshTimer)
  refreshTimer = setTimeout(() => void refreshRooms(), 300)
}

const roomTitle = (s: { kind: string; name?: string | undefined; id: string }, members?: ReadonlyArray<{ user: string }>) =>
  s.kind === "group" ? s.name ?? "group" : members?.map((m) => m.user).find((u) => u !== me) ?? directNames.get(s.id) ?? "direct"
const directNames = new Map<string, string>()

const refreshRooms = async () => {
  if (client === undefined) return
  try {
    summaries = await client.listRooms({ limit: 100 })
  } catch (e) {
    if (e instanceof ChatError && e.code === "unauthorized") return
    return
  }
  for (const s of summaries) {
    if (!views.has(s.id)) follow(s.id)
    if (s.kind === "direct" && !directNames.has(s.id)) {
      void client.getRoom(s.id).then((r) => {
        directNames.set(s.id, roomTitle(r, r.members))
        renderRooms()
      })
    }
  }
  renderRooms()
}

const renderRooms = () => {
  const list = $("rooms")
  list.replaceChildren(
    ...summaries.map((s) => {
      const li = document.createElement("li")
      const b = document.createElement("button")
      b.type = "button"
      b.className = "room"
      b.dataset.room = s.id
      if (s.id === current) b.setAttribute("aria-current", "true")
      const unread = s.id === current ? 0 : s.unread
      const title = document.createElement("span")
      title.className = "room-title"
      title.textContent = roomTitle(s)
      const last = document.createElement("span")
      last.className = "room-last"
      last.textContent = s.lastMessage ? `${s.lastMessage.sender}: ${s.lastMessage.body}` : "No messages yet"
      b.append(title, last)
      if (unread > 0) {
        const badge = document.createElement("span")
        badge.className = "badge"
        badge.textContent = String(unread)
        badge.setAttribute("aria-label", `${unread} unread`)
        b.append(badge)
      }
      b.addEventListener("click", () => void openRoom(s.id))
      li.append(b)
      return li
    })
  )
}

$("create-form").addEventListener("change", () => {
  const group = (document.querySelector("input[name=kind]:checked") as HTMLInputElement).value === "group"
  $("create-name-label").textContent = group ? "Group name" : "With user"
  $("create-members").parentElement!.querySelector<HTMLElement>("#create-members")!.hidden = !group
  $("create-members-label").hidden = !group
})
$("create-members").hidden = true
$("create-members-label").hidden = true
$("create-form").addEventListener("submit", async (e) => {
  e.preventDefault()
  if (client === undefined) return
  const group = (document.querySelector("input[name=kind]:checked") as HTMLInputElement).value === "group"
  const name = ($("create-name") as HTMLInputElement).value.trim()
  const members = ($("create-members") as HTMLInputElement).value.split(",").map((s) => s.trim()).filter((s) => s !== "")
  try {
    const room = group ? await client.createGroup(name, members) : await client.createDirect(name)
    ;($("create-name") as HTMLInputElement).value = ""
    ;($("create-members") as HTMLInputElement).value = ""
    ;($("new-room") as HTMLDetailsElement).open = false
    await refreshRooms()
    await openRoom(room.id)
  } catch (err) {
    alert(`Could not create the room: ${(err as Error).message}`)
  }
})

// --- one room ------------------------------------------------------------------------

const follow = (id: string): RoomView => {
  const room = client!.room(id)
  const view: RoomView = {
    room,
    messages: new Map(),
    oldest: undefined,
    hasMore: true,
    loading: false,
    readBy: new Map(),
    online: new Set(),
    typing: new Map(),
    pages: undefined
  }
  views.set(id, view)
  room.on("event", (e) => {
    apply(view, e)
    if (id === current) {
      render(view)
      markRead(view)
    }
    scheduleRefresh()
  })
  room.on("read", ({ user, seq }) => {
    if (user === me) return
    view.readBy.set(user, Math.max(seq, view.readBy.get(user) ?? 0))
    if (id === current) render(view)
  })
  room.on("typing", ({ user }) => {
    view.typing.set(user, Date.now())
    if (id === current) renderTyping(view)
    setTimeout(() => id === current && renderTyping(view), 5_000)
  })
  room.on("presence", ({ user, online }) => {
    presenceEpoch++
    if (online) view.online.add(user)
    else view.online.delete(user)
    if (id === current) void renderMembers(view)
  })
  room.on("subscribed", () => {
    if (id === current) void loadPresence(view)
  })
  room.on("truncated", () => {
    // Events were not replayed: reload what is shown from history.
    view.messages.clear()
    view.oldest = undefined
    view.hasMore = true
    view.pages = undefined
    if (id === current) void loadOlder(view)
  })
  room.on("ended", () => {
    views.delete(id)
    scheduleRefresh()
  })
  return view
}

const apply = (view: RoomView, e: ChatEvent) => {
  switch (e.kind) {
    case "message.created":
    case "message.edited":
    case "message.deleted": {
      const old = view.messages.get(e.data.seq)
      view.messages.set(e.data.seq, { ...e.data, ...(old?.reactions && !e.data.deleted ? { reactions: old.reactions } : {}) })
      return
    }
    case "reaction.added":
    case "reaction.removed": {
      const m = view.messages.get(e.data.messageSeq)
      if (m === undefined) return
      const reactions: Record<string, ReadonlyArray<string>> = { ...(m.reactions ?? {}) }
      const users = new Set(reactions[e.data.emoji] ?? [])
      if (e.kind === "reaction.added") users.add(e.data.user)
      else users.delete(e.data.user)
      if (users.size > 0) reactions[e.data.emoji] = [...users].sort()
      else delete reactions[e.data.emoji]
      view.messages.set(m.seq, { ...m, reactions })
      return
    }
    default:
      return
  }
}

const openRoom = async (id: string) => {
  const view = views.get(id) ?? follow(id)
  current = id
  replyTo = undefined
  editing = undefined
  document.body.dataset.view = "chat"
  const s = summaries.find((r) => r.id === id)
  $("room-title").textContent = s ? roomTitle(s) : "Room"
  $("composer").hidden = false
  $("messages").replaceChildren()
  rendered.clear()
  renderChips()
  renderRooms()
  await view.room.ready.catch(() => undefined)
  void renderMembers(view)
  void loadPresence(view)
  if (view.oldest === undefined) await loadOlder(view)
  render(view)
  scrollToBottom()
  markRead(view)
  ;($("message-input") as HTMLTextAreaElement).focus()
}

/** Bumped by every presence frame: a list fetched meanwhile may be older than the frame. */
let presenceEpoch = 0
const loadPresence = async (view: RoomView, attempts = 3): Promise<void> => {
  try {
    const epoch = presenceEpoch
    const online = await view.room.online()
    if (epoch !== presenceEpoch && attempts > 1) return loadPresence(view, attempts - 1)
    view.online.clear()
    for (const u of online) if (u !== me) view.online.add(u)
    void renderMembers(view)
  } catch {
    // Shown again on the next presence frame.
  }
}

let membersCache = new Map<string, ReadonlyArray<{ user: string; role: string }>>()
const renderMembers = async (view: RoomView) => {
  let members = membersCache.get(view.room.id)
  if (members === undefined) {
    try {
      const info = await view.room.info()
      members = info.members
      membersCache.set(view.room.id, members)
      if (info.kind === "group") $("room-title").textContent = info.name ?? "group"
      else $("room-title").textContent = roomTitle(info, info.members)
    } catch {
      return
    }
  }
  if (view.room.id !== current) return
  const el = $("members")
  el.replaceChildren(
    ...members.map((m) => {
      const span = document.createElement("span")
      const online = m.user === me || view.online.has(m.user)
      span.className = online ? "member online" : "member"
      span.textContent = m.user
      span.title = online ? "online" : "offline"
      span.setAttribute("aria-label", `${m.user}, ${online ? "online" : "offline"}${m.role !== "member" ? `, ${m.role}` : ""}`)
      return span
    })
  )
}

/** Infinite scroll upward: the next history page, older than what is loaded. */
const loadOlder = async (view: RoomView) => {
  if (view.loading || !view.hasMore) return
  view.loading = true
  $("history-status").textContent = "Loading older messages…"
  const scroller = $("scroller")
  const fromBottom = scroller.scrollHeight - scroller.scrollTop
  try {
    view.pages ??= view.room.history({ pageSize: 30, ...(view.oldest !== undefined ? { before: view.oldest } : {}) })
    const next = await view.pages.next()
    if (next.done) view.hasMore = false
    else {
      for (const m of next.value) if (!view.messages.has(m.seq)) view.messages.set(m.seq, m)
      view.oldest = next.value[next.value.length - 1].seq
      if (view.oldest <= 1) view.hasMore = false
    }
    if (view.oldest === undefined) view.oldest = 0
  } catch {
    view.pages = undefined
  } finally {
    view.loading = false
    $("history-status").textContent = view.hasMore ? "" : "Start of the conversation"
  }
  if (view.room.id === current) {
    render(view)
    scroller.scrollTop = scroller.scrollHeight - fromBottom
  }
}

// Only the reader's own scrolling (wheel, touch, keys) loads older pages: the page's own
// positioning after a render fires scroll events too, and must not load the whole room.
let userScrollAt = 0
for (const type of ["wheel", "touchmove", "keydown"]) {
  $("scroller").addEventListener(
    type,
    () => {
      userScrollAt = Date.now()
      // Already at the top (or the messages do not fill the pane) scrolls nothing, so no
      // scroll event comes: the reader's gesture there asks for the older page itself.
      const view = current ? views.get(current) : undefined
      if (view && $("scroller").scrollTop < 80) void loadOlder(view)
    },
    { passive: true }
  )
}
$("scroller").addEventListener("scroll", () => {
  const view = current ? views.get(current) : undefined
  if (view && Date.now() - userScrollAt < 1_000 && $("scroller").scrollTop < 80) void loadOlder(view)
})

let readTimer: ReturnType<typeof setTimeout> | undefined
const markRead = (view: RoomView) => {
  if (document.visibilityState !== "visible") return
  clearTimeout(readTimer)
  readTimer = setTimeout(() => {
    void view.room.read().then(scheduleRefresh, () => undefined)
  }, 200)
}
document.addEventListener("visibilitychange", () => {
  const view = current ? views.get(current) : undefined
  if (view) markRead(view)
})

// --- rendering messages ---------------------------------------------------------------

/** seq → [element, the message it shows]: an element is replaced only when its message changed. */
const rendered = new Map<number, [HTMLElement, unknown]>()

const time = (ts: string) => new Date(ts).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })

const messageElement = (view: RoomView, m: Message): HTMLElement => {
  const li = document.createElement("li")
  li.className = m.sender === me ? "message mine" : "message"
  li.dataset.seq = String(m.seq)
  li.tabIndex = -1
  const head = document.createElement("div")
  head.className = "meta"
  const who = document.createElement("strong")
  who.textContent = m.sender
  const when = document.createElement("time")
  when.dateTime = m.ts
  when.textContent = time(m.ts)
  head.append(who, " ", when)
  if (m.editedAt && !m.deleted) head.append(" (edited)")
  li.append(head)
  if (m.replyTo !== undefined) {
    const quoted = view.messages.get(m.replyTo)
    const q = document.createElement("blockquote")
    q.textContent = quoted ? `${quoted.sender}: ${quoted.deleted ? "(deleted)" : quoted.body.slice(0, 80)}` : `reply to #${m.replyTo}`
    li.append(q)
  }
  const body = document.createElement("p")
  body.className = m.deleted ? "body deleted" : "body"
  body.textContent = m.deleted ? "This message was deleted" : m.body
  li.append(body)
  if (!m.deleted) {
    const reactions = document.createElement("div")
    reactions.className = "reactions"
    for (const [emoji, users] of Object.entries(m.reactions ?? {})) {
      const b = document.createElement("button")
      b.type = "button"
      b.className = users.includes(me) ? "reaction mine" : "reaction"
      b.textContent = `${emoji} ${users.length}`
      b.setAttribute("aria-label", `${emoji} by ${users.join(", ")}${users.includes(me) ? "; press to remove yours" : ""}`)
      b.addEventListener("click", () => void view.room.react(m.seq, emoji, { remove: users.includes(me) }).catch(report))
      reactions.append(b)
    }
    li.append(reactions)
    const actions = document.createElement("div")
    actions.className = "actions"
    const action = (label: string, aria: string, fn: () => void) => {
      const b = document.createElement("button")
      b.type = "button"
      b.textContent = label
      b.setAttribute("aria-label", aria)
      b.addEventListener("click", fn)
      actions.append(b)
    }
    action("Reply", `Reply to ${m.sender}`, () => {
      replyTo = m
      editing = undefined
      renderChips()
      ;($("message-input") as HTMLTextAreaElement).focus()
    })
    for (const emoji of REACTIONS) {
      if (!(m.reactions?.[emoji] ?? []).includes(me)) {
        action(emoji, `React ${emoji}`, () => void view.room.react(m.seq, emoji).catch(report))
      }
    }
    if (m.sender === me) {
      action("Edit", "Edit message", () => {
        editing = m
        replyTo = undefined
        ;($("message-input") as HTMLTextAreaElement).value = m.body
        renderChips()
        ;($("message-input") as HTMLTextAreaElement).focus()
      })
      action("Delete", "Delete message", () => {
        if (confirm("Delete this message?")) void view.room.delete(m.seq).catch(report)
      })
    }
    li.append(actions)
  }
  return li
}

const render = (view: RoomView) => {
  const list = $("messages")
  const scroller = $("scroller")
  const atBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 40
  const seqs = [...view.messages.keys()].sort((a, b) => a - b)
  let prev: HTMLElement | null = null
  for (const seq of seqs) {
    const m = view.messages.get(seq)!
    const have = rendered.get(seq)
    let el: HTMLElement
    if (have && have[1] === m) el = have[0]
    else {
      el = messageElement(view, m)
      if (have) have[0].replaceWith(el)
      rendered.set(seq, [el, m])
    }
    const want: ChildNode | null = prev ? prev.nextSibling : list.firstChild
    if (want !== el) list.insertBefore(el, want)
    prev = el
  }
  renderReceipts(view, seqs)
  if (atBottom) scrollToBottom()
}

/** "Seen by" under my newest message that each other member has read. */
const renderReceipts = (view: RoomView, seqs: number[]) => {
  document.querySelectorAll(".receipt").forEach((el) => el.remove())
  const mine = seqs.filter((s) => view.messages.get(s)!.sender === me)
  const byMessage = new Map<number, string[]>()
  for (const [user, seq] of view.readBy) {
    const target = mine.filter((s) => s <= seq).pop()
    if (target !== undefined) byMessage.set(target, [...(byMessage.get(target) ?? []), user])
  }
  for (const [seq, users] of byMessage) {
    const p = document.createElement("p")
    p.className = "receipt"
    p.textContent = `Seen by ${users.sort().join(", ")}`
    rendered.get(seq)?.[0].append(p)
  }
}

const renderTyping = (view: RoomView) => {
  const now = Date.now()
  const who = [...view.typing].filter(([, at]) => now - at < 5_000).map(([u]) => u)
  $("typing").textContent = who.length === 0 ? "" : `${who.join(", ")} ${who.length === 1 ? "is" : "are"} typing…`
}

const scrollToBottom = () => {
  const s = $("scroller")
  s.scrollTop = s.scrollHeight
}

const renderChips = () => {
  $("reply-chip").hidden = replyTo === undefined
  $("reply-chip").querySelector("span")!.textContent = replyTo ? `Replying to ${replyTo.sender}: ${replyTo.body.slice(0, 60)}` : ""
  $("edit-chip").hidden = editing === undefined
  $("send").textContent = editing ? "Save" : "Send"
}

const report = (e: unknown) => {
  const banner = $("banner")
  banner.hidden = false
  banner.textContent = e instanceof ChatError && e.code === "rate_limited" ? "Slow down: too many messages." : `Failed: ${(e as Error).message}`
  setTimeout(() => {
    if (document.body.dataset.connection === "open") banner.hidden = true
  }, 4_000)
}

// --- composing -----------------------------------------------------------------------

$("reply-cancel").addEventListener("click", () => {
  replyTo = undefined
  renderChips()
})
$("edit-cancel").addEventListener("click", () => {
  editing = undefined
  ;($("message-input") as HTMLTextAreaElement).value = ""
  renderChips()
})
$("message-input").addEventListener("input", () => {
  const view = current ? views.get(current) : undefined
  view?.room.typing()
})
$("message-input").addEventListener("keydown", (e) => {
  // Enter sends, Shift+Enter is a new line; Escape leaves reply/edit.
  if (e.key === "Enter" && !e.shiftKey) {
    e.preventDefault()
    ;($("composer") as HTMLFormElement).requestSubmit()
  } else if (e.key === "Escape") {
    replyTo = undefined
    editing = undefined
    renderChips()
  }
})
$("composer").addEventListener("submit", (e) => {
  e.preventDefault()
  const view = current ? views.get(current) : undefined
  const input = $("message-input") as HTMLTextAreaElement
  const body = input.value
  if (view === undefined || body.trim() === "") return
  input.value = ""
  if (editing) {
    void view.room.edit(editing.seq, body).catch(report)
    editing = undefined
  } else {
    // The SDK keeps it in its outbox until acked, across reconnects.
    void view.room.send(body, replyTo ? { replyTo: replyTo.seq } : {}).catch(report)
    replyTo = undefined
  }
  renderChips()
})
$("back").addEventListener("click", () => {
  document.body.dataset.view = "rooms"
  current = undefined
  renderRooms()
})

window.addEventListener("online", () => client?.reconnect())
window.addEventListener("offline", () => {
  $("banner").hidden = false
  $("banner").textContent = "You are offline. Messages you send will go out when you are back."
})

// --- boot ----------------------------------------------------------------------------

const boot = () => {
  // OAuth-style hook: an identity provider may redirect to /#access_token=<jwt>.
  const hash = new URLSearchParams(location.hash.slice(1)).get("access_token")
  if (hash) {
    sessionStorage.setItem(TOKEN_KEY, hash)
    sessionStorage.removeItem(DEV_USER_KEY)
    history.replaceState(null, "", location.pathname)
  }
  const devUser = sessionStorage.getItem(DEV_USER_KEY)
  const token = sessionStorage.getItem(TOKEN_KEY)
  if (devUser !== null) start(undefined, devUser)
  else if (token !== null) start(token, undefined)
  else void showSignIn()
}
boot()
