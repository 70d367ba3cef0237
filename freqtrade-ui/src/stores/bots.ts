import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import { api } from '@/api/client'
import type { BotCreate, BotLiveRead, BotRead, EventRead, ExternalBotCreate } from '@/api/types'
import { toNumber } from '@/utils/format'

export type BotAction = 'start' | 'stop' | 'restart'
const PAGE = 500

export const useBotsStore = defineStore('bots', () => {
  const byId = ref<Record<number, BotRead>>({})
  const live = ref<Record<number, BotLiveRead>>({})
  const loaded = ref(false)
  const error = ref<string | null>(null)
  /** Bots whose state change was asked for and is not visible yet. */
  const pending = ref<Record<number, BotAction>>({})

  const list = computed(() => Object.values(byId.value).sort((a, b) => a.name.localeCompare(b.name)))

  async function fetchBots(): Promise<void> {
    const page = await api.get('/api/v1/bots', { query: { limit: PAGE } })
    const next: Record<number, BotRead> = {}
    for (const bot of page.items) next[bot.id] = bot
    byId.value = next
    loaded.value = true
  }

  async function fetchLive(): Promise<void> {
    const states = await api.get('/api/v1/fleet/live')
    const next: Record<number, BotLiveRead> = {}
    for (const state of states) next[state.bot_id] = state
    live.value = next
  }

  async function fetchAll(): Promise<void> {
    try {
      await Promise.all([fetchBots(), fetchLive()])
      error.value = null
    } catch (err) {
      error.value = err instanceof Error ? err.message : String(err)
      throw err
    }
  }

  async function fetchBot(id: number): Promise<BotRead> {
    const bot = await api.get('/api/v1/bots/{bot_id}', { path: { bot_id: id } })
    byId.value = { ...byId.value, [bot.id]: bot }
    return bot
  }

  async function create(body: BotCreate): Promise<BotRead> {
    const bot = await api.post('/api/v1/bots', { body })
    byId.value = { ...byId.value, [bot.id]: bot }
    return bot
  }

  async function attachExternal(body: ExternalBotCreate): Promise<BotRead> {
    const bot = await api.post('/api/v1/bots/external', { body })
    byId.value = { ...byId.value, [bot.id]: bot }
    return bot
  }

  /** Ask for a state change (202); the live feed or the next poll shows it happen. */
  async function changeState(id: number, action: BotAction): Promise<void> {
    pending.value = { ...pending.value, [id]: action }
    try {
      const change = await api.post(`/api/v1/bots/{bot_id}/${action}`, { path: { bot_id: id } })
      const bot = byId.value[id]
      if (bot) byId.value = { ...byId.value, [id]: { ...bot, status: change.status, desired_state: change.desired_state } }
    } catch (err) {
      const { [id]: _, ...rest } = pending.value
      pending.value = rest
      throw err
    }
  }

  function settle(id: number, status: string): void {
    const action = pending.value[id]
    if (!action) return
    const done = (action === 'stop' && status === 'stopped') || (action !== 'stop' && status === 'running') || status === 'error'
    if (done) {
      const { [id]: _, ...rest } = pending.value
      pending.value = rest
    }
  }

  let liveRefresh: ReturnType<typeof setTimeout> | null = null
  function refreshLiveSoon(): void {
    if (liveRefresh) return
    liveRefresh = setTimeout(() => {
      liveRefresh = null
      void fetchLive().catch(() => undefined)
    }, 500)
  }

  /** Fold a live event into the state: a bot's status at once, a trade by re-reading. */
  function applyEvent(event: EventRead): void {
    const id = event.bot_id
    if (id === null) return
    if (event.type === 'bot.status') {
      const status = String(event.payload.status ?? '')
      const bot = byId.value[id]
      if (bot && status) {
        byId.value = { ...byId.value, [id]: { ...bot, status: status as BotRead['status'] } }
        settle(id, status)
      }
      // started_at, pid and last_error change with the status: read the bot again.
      void fetchBot(id).catch(() => undefined)
      refreshLiveSoon()
    } else if (event.type.startsWith('trade.')) {
      refreshLiveSoon()
      void fetchBot(id).catch(() => undefined)
    } else if (event.type === 'bot.created' && !byId.value[id]) {
      void fetchBot(id).catch(() => undefined)
    } else if (event.type === 'bot.deleted') {
      const { [id]: _, ...rest } = byId.value
      byId.value = rest
    }
  }

  /** P&L of a bot: closed plus open profit while it is watched live, else its recorded total. */
  function profitOf(bot: BotRead): number | null {
    const state = live.value[bot.id]
    const closed = toNumber(state?.profit_closed)
    if (closed !== null) return closed + (toNumber(state?.profit_open) ?? 0)
    return toNumber(bot.total_profit)
  }

  function openTradesOf(id: number): number {
    return live.value[id]?.open_trades?.length ?? 0
  }

  return {
    byId,
    live,
    list,
    loaded,
    error,
    pending,
    fetchBots,
    fetchLive,
    fetchAll,
    fetchBot,
    create,
    attachExternal,
    changeState,
    applyEvent,
    profitOf,
    openTradesOf,
  }
})
