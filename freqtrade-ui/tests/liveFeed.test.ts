import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { LiveFeed, type FeedState, type SocketLike } from '@/api/liveFeed'
import type { EventRead } from '@/api/types'

class FakeSocket implements SocketLike {
  readyState = 1
  onopen: ((event: Event) => void) | null = null
  onmessage: ((event: MessageEvent) => void) | null = null
  onclose: ((event: CloseEvent) => void) | null = null
  onerror: ((event: Event) => void) | null = null
  sent: unknown[] = []
  closed = false
  constructor(
    readonly url: string,
    readonly protocols: string[],
  ) {}
  send(data: string): void {
    this.sent.push(JSON.parse(data))
  }
  close(): void {
    this.closed = true
  }
  receive(message: object): void {
    this.onmessage?.({ data: JSON.stringify(message) } as MessageEvent)
  }
  drop(code = 1006): void {
    this.readyState = 3
    this.onclose?.({ code } as CloseEvent)
  }
}

const event = (id: number, type = 'bot.status'): EventRead => ({
  id, type, bot_id: 1, owner_id: 1, created_at: '2026-01-01T00:00:00Z', summary: `event ${id}`, payload: { status: 'running' },
})

describe('LiveFeed', () => {
  let sockets: FakeSocket[]
  let events: EventRead[]
  let states: FeedState[]
  let poll: ReturnType<typeof vi.fn>
  let refresh: ReturnType<typeof vi.fn>
  let feed: LiveFeed

  beforeEach(() => {
    vi.useFakeTimers()
    sockets = []
    events = []
    states = []
    poll = vi.fn(async () => true)
    refresh = vi.fn(async () => true)
    feed = new LiveFeed({
      url: 'ws://host/api/v1/ws/bots',
      token: () => 'TOKEN',
      refreshToken: refresh as () => Promise<boolean>,
      onEvent: (e) => events.push(e),
      onStateChange: (s) => states.push(s),
      poll: poll as () => Promise<boolean>,
      random: () => 0,
      createSocket: (url, protocols) => {
        const socket = new FakeSocket(url, protocols)
        sockets.push(socket)
        return socket
      },
    })
  })
  afterEach(() => {
    feed.stop()
    vi.useRealTimers()
  })

  const welcome = (socket: FakeSocket, last: number | null = 10) =>
    socket.receive({ type: 'welcome', last_event_id: last, heartbeat_seconds: 15 })

  it('authenticates with the bearer subprotocol and goes live on welcome', () => {
    feed.start()
    expect(states).toEqual(['connecting'])
    expect(sockets[0]!.protocols).toEqual(['multibot.v1', 'bearer.TOKEN'])
    welcome(sockets[0]!)
    expect(feed.state).toBe('live')
    expect(feed.lastEventId).toBe(10)
  })

  it('delivers events once and remembers the last id', () => {
    feed.start()
    welcome(sockets[0]!)
    sockets[0]!.receive({ type: 'event', event: event(11) })
    sockets[0]!.receive({ type: 'event', event: event(11) })
    sockets[0]!.receive({ type: 'event', event: event(9) })
    expect(events.map((e) => e.id)).toEqual([11])
    expect(feed.lastEventId).toBe(11)
  })

  it('falls back to polling, reconnects with back-off and resumes after the last id', async () => {
    feed.start()
    welcome(sockets[0]!)
    sockets[0]!.receive({ type: 'event', event: event(12) })
    sockets[0]!.drop()
    expect(feed.state).toBe('polling')
    expect(poll).toHaveBeenCalledTimes(1)

    await vi.advanceTimersByTimeAsync(1000)
    expect(sockets).toHaveLength(2)
    expect(sockets[1]!.url).toBe('ws://host/api/v1/ws/bots?after_id=12')
    sockets[1]!.drop()
    await vi.advanceTimersByTimeAsync(1999)
    expect(sockets).toHaveLength(2)
    await vi.advanceTimersByTimeAsync(1)
    expect(sockets).toHaveLength(3)

    await vi.advanceTimersByTimeAsync(30_000) // still down: a poll every 30 s
    expect(poll.mock.calls.length).toBeGreaterThanOrEqual(2)

    welcome(sockets[sockets.length - 1]!, 40)
    expect(feed.state).toBe('live')
    expect(feed.lastEventId).toBe(12) // its own cursor, not the server's newest
    const polls = poll.mock.calls.length
    for (let i = 0; i < 4; i++) {
      await vi.advanceTimersByTimeAsync(15_000)
      sockets[sockets.length - 1]!.receive({ type: 'heartbeat', last_event_id: 12 })
    }
    expect(poll.mock.calls.length).toBe(polls) // live again: no more polling
    expect(feed.state).toBe('live')
  })

  it('shows offline when the polls fail too', async () => {
    poll.mockImplementation(async () => false)
    feed.start()
    sockets[0]!.drop()
    await vi.advanceTimersByTimeAsync(0)
    expect(feed.state).toBe('offline')
  })

  it('refreshes the token after a 4401 close and reconnects', async () => {
    feed.start()
    welcome(sockets[0]!)
    sockets[0]!.drop(4401)
    await vi.advanceTimersByTimeAsync(0)
    expect(refresh).toHaveBeenCalledOnce()
    expect(sockets).toHaveLength(2)
  })

  it('asks for dropped events again', () => {
    feed.start()
    welcome(sockets[0]!)
    sockets[0]!.receive({ type: 'event', event: event(15) })
    sockets[0]!.receive({ type: 'dropped', count: 3, total: 3, resume_after_id: 15 })
    expect(sockets[0]!.sent).toEqual([{ type: 'resume', after_id: 15 }])
  })

  it('treats a silent connection as dead after two missed heartbeats', async () => {
    feed.start()
    welcome(sockets[0]!)
    await vi.advanceTimersByTimeAsync(30_000)
    expect(sockets[0]!.closed).toBe(true)
    expect(feed.state).toBe('polling')
  })
})
