// The live event stream (GET /api/v1/ws/bots, see the backend's realtime router for the
// protocol): reconnects with back-off, resumes after the last event it saw, and polls every
// 30 s while the socket is down.
import type { EventRead } from './types'

export type FeedState = 'connecting' | 'live' | 'polling' | 'offline'

export const SUBPROTOCOL = 'multibot.v1'
export const CLOSE_UNAUTHORIZED = 4401
export const CLOSE_FORBIDDEN = 4403

export interface SocketLike {
  readonly readyState: number
  onopen: ((event: Event) => void) | null
  onmessage: ((event: MessageEvent) => void) | null
  onclose: ((event: CloseEvent) => void) | null
  onerror: ((event: Event) => void) | null
  send(data: string): void
  close(code?: number, reason?: string): void
}

export interface LiveFeedOptions {
  /** The WebSocket URL without query (e.g. ws://host/api/v1/ws/bots). */
  url: string
  token: () => string | null
  /** Get a fresh access token; false when the session is over. */
  refreshToken: () => Promise<boolean>
  onEvent: (event: EventRead) => void
  onStateChange?: (state: FeedState) => void
  /** Fetch everything again; resolves true when the server answered. */
  poll: () => Promise<boolean>
  pollIntervalMs?: number
  backoffBaseMs?: number
  backoffMaxMs?: number
  createSocket?: (url: string, protocols: string[]) => SocketLike
  random?: () => number
}

type ServerMessage =
  | { type: 'welcome'; last_event_id: number | null; heartbeat_seconds: number }
  | { type: 'event'; event: EventRead }
  | { type: 'broadcast'; event: EventRead; message: string; severity: string }
  | { type: 'heartbeat'; last_event_id: number | null }
  | { type: 'resumed'; last_event_id: number | null; more: boolean }
  | { type: 'dropped'; count: number }
  | { type: 'error'; code: string; message: string }
  | { type: 'pong' | 'subscribed' }

export class LiveFeed {
  state: FeedState = 'offline'
  lastEventId: number | null = null
  private socket: SocketLike | null = null
  private attempts = 0
  private stopped = true
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null
  private pollTimer: ReturnType<typeof setInterval> | null = null
  private watchdog: ReturnType<typeof setTimeout> | null = null
  private heartbeatMs = 15_000
  private readonly options: Required<Omit<LiveFeedOptions, 'onStateChange'>> &
    Pick<LiveFeedOptions, 'onStateChange'>

  constructor(options: LiveFeedOptions) {
    this.options = {
      pollIntervalMs: 30_000,
      backoffBaseMs: 1_000,
      backoffMaxMs: 30_000,
      createSocket: (url, protocols) => new WebSocket(url, protocols),
      random: Math.random,
      ...options,
    }
  }

  start(): void {
    if (!this.stopped) return
    this.stopped = false
    this.connect()
  }

  stop(): void {
    this.stopped = true
    this.clearTimers()
    this.stopPolling()
    const socket = this.socket
    this.socket = null
    if (socket) {
      socket.onclose = null
      socket.close(1000, 'client stopped')
    }
    this.setState('offline')
  }

  /** Drop the connection and open a new one now (e.g. with a new token). */
  reconnect(): void {
    if (this.stopped) return
    const socket = this.socket
    this.socket = null
    if (socket) {
      socket.onclose = null
      socket.close(1000, 'reconnecting')
    }
    this.clearTimers()
    this.connect()
  }

  private setState(state: FeedState): void {
    if (this.state === state) return
    this.state = state
    this.options.onStateChange?.(state)
  }

  private connect(): void {
    const token = this.options.token()
    if (!token) {
      this.stop()
      return
    }
    if (this.state !== 'polling') this.setState('connecting')
    const url = this.lastEventId === null ? this.options.url : `${this.options.url}?after_id=${this.lastEventId}`
    let socket: SocketLike
    try {
      socket = this.options.createSocket(url, [SUBPROTOCOL, `bearer.${token}`])
    } catch {
      this.scheduleReconnect()
      return
    }
    this.socket = socket
    socket.onmessage = (message) => this.receive(message)
    socket.onclose = (event) => this.closed(event.code)
    socket.onerror = () => undefined // a close event follows
  }

  private receive(message: MessageEvent): void {
    let data: ServerMessage
    try {
      data = JSON.parse(String(message.data)) as ServerMessage
    } catch {
      return
    }
    this.armWatchdog()
    switch (data.type) {
      case 'welcome':
        this.attempts = 0
        this.heartbeatMs = Math.max(1, data.heartbeat_seconds) * 1000
        if (this.lastEventId === null) this.lastEventId = data.last_event_id ?? 0
        this.stopPolling()
        this.setState('live')
        this.armWatchdog()
        break
      case 'event':
      case 'broadcast':
        this.deliver(data.event)
        break
      case 'dropped':
        this.send({ type: 'resume', after_id: this.lastEventId ?? 0 })
        break
      case 'resumed':
        if (data.more) this.send({ type: 'resume', after_id: data.last_event_id ?? this.lastEventId ?? 0 })
        break
      default:
        break
    }
  }

  private deliver(event: EventRead): void {
    if (this.lastEventId !== null && event.id <= this.lastEventId) return
    this.lastEventId = event.id
    this.options.onEvent(event)
  }

  private send(message: object): void {
    if (this.socket && this.socket.readyState === 1) this.socket.send(JSON.stringify(message))
  }

  private closed(code: number): void {
    this.socket = null
    this.clearTimers()
    if (this.stopped) return
    if (code === CLOSE_FORBIDDEN) {
      this.stop()
      return
    }
    this.startPolling()
    if (code === CLOSE_UNAUTHORIZED) {
      // The access token expired (the server checks it every minute): refresh, then resume.
      void this.options.refreshToken().then((ok) => {
        if (ok) this.connect()
        else this.stop()
      })
      return
    }
    this.scheduleReconnect()
  }

  /** 1 s, 2 s, 4 s … up to 30 s, each with up to 20 % jitter so clients don't return at once. */
  nextDelay(): number {
    const { backoffBaseMs, backoffMaxMs, random } = this.options
    const delay = Math.min(backoffMaxMs, backoffBaseMs * 2 ** this.attempts)
    this.attempts += 1
    return Math.round(delay * (1 + 0.2 * random()))
  }

  private scheduleReconnect(): void {
    if (this.stopped) return
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null
      this.connect()
    }, this.nextDelay())
  }

  private armWatchdog(): void {
    if (this.watchdog) clearTimeout(this.watchdog)
    // No heartbeat for twice its interval: the connection is dead though not closed.
    this.watchdog = setTimeout(() => {
      const socket = this.socket
      if (socket) {
        socket.onclose = null
        socket.close(4000, 'heartbeat missed')
      }
      this.closed(1006)
    }, this.heartbeatMs * 2)
  }

  private startPolling(): void {
    if (this.pollTimer) return
    this.setState('polling')
    const poll = () =>
      void this.options.poll().then(
        (ok) => {
          if (this.pollTimer) this.setState(ok ? 'polling' : 'offline')
        },
        () => {
          if (this.pollTimer) this.setState('offline')
        },
      )
    this.pollTimer = setInterval(poll, this.options.pollIntervalMs)
    poll()
  }

  private stopPolling(): void {
    if (this.pollTimer) clearInterval(this.pollTimer)
    this.pollTimer = null
  }

  private clearTimers(): void {
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer)
    if (this.watchdog) clearTimeout(this.watchdog)
    this.reconnectTimer = null
    this.watchdog = null
  }
}

/** ws(s)://<this host>/api/v1/ws/bots */
export function liveFeedUrl(location: Pick<Location, 'protocol' | 'host'> = window.location): string {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:'
  return `${scheme}//${location.host}/api/v1/ws/bots`
}
