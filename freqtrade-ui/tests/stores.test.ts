import { createPinia, setActivePinia } from 'pinia'
import { beforeEach, describe, expect, it, vi } from 'vitest'
import { api } from '@/api/client'
import type { BotRead, EventRead } from '@/api/types'
import { useBotsStore } from '@/stores/bots'
import { useDashboardStore } from '@/stores/dashboard'
import { useThemeStore } from '@/stores/theme'
import { handleShortcut } from '@/composables/useShortcuts'

const bot = (id: number, name: string, extra: Partial<BotRead> = {}): BotRead =>
  ({ id, name, status: 'stopped', desired_state: 'stopped', total_profit: '1.5', strategy_name: 'SampleStrategy', stake_currency: 'USDT', ...extra }) as BotRead

const event = (id: number, type: string, payload: Record<string, unknown> = {}, bot_id: number | null = 1): EventRead => ({
  id, type, bot_id, owner_id: 1, created_at: '2026-01-01T00:00:00Z', summary: type, payload,
})

describe('bots store', () => {
  beforeEach(() => {
    setActivePinia(createPinia())
    vi.restoreAllMocks()
  })

  it('loads bots and live states, sorted by name', async () => {
    vi.spyOn(api, 'get').mockImplementation((async (path: string) => {
      if (path === '/api/v1/bots') return { items: [bot(2, 'zeta'), bot(1, 'alpha')], total: 2, limit: 500, offset: 0 }
      return [{ bot_id: 1, name: 'alpha', status: 'running', health: 'healthy', stake_currency: 'USDT', profit_closed: '2', profit_open: '0.5', open_trades: [{}, {}] }]
    }) as never)
    const store = useBotsStore()
    await store.fetchAll()
    expect(store.list.map((b) => b.name)).toEqual(['alpha', 'zeta'])
    expect(store.profitOf(store.byId[1]!)).toBe(2.5)
    expect(store.profitOf(store.byId[2]!)).toBe(1.5)
    expect(store.openTradesOf(1)).toBe(2)
  })

  it('shows a requested start as pending until the live status event arrives', async () => {
    vi.spyOn(api, 'post').mockResolvedValue({ id: 1, status: 'starting', desired_state: 'running' } as never)
    vi.spyOn(api, 'get').mockResolvedValue([] as never)
    const store = useBotsStore()
    store.byId = { 1: bot(1, 'alpha') }
    await store.changeState(1, 'start')
    expect(store.byId[1]!.status).toBe('starting')
    expect(store.pending[1]).toBe('start')
    store.applyEvent(event(5, 'bot.status', { status: 'running' }))
    expect(store.byId[1]!.status).toBe('running')
    expect(store.pending[1]).toBeUndefined()
  })

  it('forgets the pending action when the request fails', async () => {
    vi.spyOn(api, 'post').mockRejectedValue(new Error('Bot is already running.'))
    const store = useBotsStore()
    store.byId = { 1: bot(1, 'alpha') }
    await expect(store.changeState(1, 'start')).rejects.toThrow('already running')
    expect(store.pending[1]).toBeUndefined()
  })
})

describe('dashboard store', () => {
  beforeEach(() => setActivePinia(createPinia()))

  it('puts live events on top of the activity feed, once each', () => {
    const store = useDashboardStore()
    store.activity = [event(3, 'bot.status')]
    store.applyEvent(event(4, 'alert'))
    store.applyEvent(event(4, 'alert'))
    expect(store.activity.map((e) => e.id)).toEqual([4, 3])
  })

  it('keeps a failing widget\'s message without losing the others', async () => {
    vi.spyOn(api, 'get').mockImplementation((async (path: string) => {
      if (path === '/api/v1/monitoring/health') throw new Error('Admins only.')
      if (path === '/api/v1/activity') return { items: [event(1, 'alert')], total: 1, limit: 50, offset: 0 }
      return { total_value: 100 }
    }) as never)
    const store = useDashboardStore()
    await store.fetchAll()
    expect(store.errors).toEqual({ health: 'Admins only.' })
    expect(store.activity).toHaveLength(1)
    expect(store.portfolio).toEqual({ total_value: 100 })
  })
})

describe('theme store', () => {
  beforeEach(() => {
    setActivePinia(createPinia())
    localStorage.clear()
  })

  it('follows the system until the user chooses, then remembers', () => {
    const store = useThemeStore()
    expect(store.choice).toBe('system')
    const before = store.theme
    store.toggle()
    expect(store.theme).not.toBe(before)
    expect(document.documentElement.dataset.theme).toBe(store.theme)
    expect(localStorage.getItem('multibot.theme')).toBe(store.theme)
    store.choose('system')
    expect(localStorage.getItem('multibot.theme')).toBeNull()
  })
})

describe('keyboard shortcuts', () => {
  const handlers = () => ({
    toggleTheme: vi.fn(), refreshAll: vi.fn(), focusBotSearch: vi.fn(), closeOverlays: vi.fn(), openHelp: vi.fn(),
  })

  it('refreshes data on Ctrl+R instead of reloading the page', () => {
    const h = handlers()
    const keydown = new KeyboardEvent('keydown', { key: 'r', ctrlKey: true, cancelable: true })
    expect(handleShortcut(keydown, h)).toBe(true)
    expect(h.refreshAll).toHaveBeenCalledOnce()
    expect(keydown.defaultPrevented).toBe(true)
  })

  it('maps Ctrl+D, Ctrl+B, Esc and F1, and leaves other keys alone', () => {
    const h = handlers()
    handleShortcut(new KeyboardEvent('keydown', { key: 'd', ctrlKey: true }), h)
    handleShortcut(new KeyboardEvent('keydown', { key: 'b', ctrlKey: true }), h)
    handleShortcut(new KeyboardEvent('keydown', { key: 'Escape' }), h)
    handleShortcut(new KeyboardEvent('keydown', { key: 'F1' }), h)
    expect(handleShortcut(new KeyboardEvent('keydown', { key: 'd' }), h)).toBe(false)
    expect(h.toggleTheme).toHaveBeenCalledOnce()
    expect(h.focusBotSearch).toHaveBeenCalledOnce()
    expect(h.closeOverlays).toHaveBeenCalledOnce()
    expect(h.openHelp).toHaveBeenCalledOnce()
  })
})
