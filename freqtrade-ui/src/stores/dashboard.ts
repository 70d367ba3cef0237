import { defineStore } from 'pinia'
import { ref } from 'vue'
import { api } from '@/api/client'
import type { EventRead, PortfolioRead, SystemHealth } from '@/api/types'

const ACTIVITY_KEPT = 50

export const useDashboardStore = defineStore('dashboard', () => {
  const portfolio = ref<PortfolioRead | null>(null)
  const health = ref<SystemHealth | null>(null)
  const activity = ref<EventRead[]>([])
  const errors = ref<Record<string, string>>({})

  async function load<T>(name: string, fetcher: () => Promise<T>, store: (value: T) => void): Promise<void> {
    try {
      store(await fetcher())
      const { [name]: _, ...rest } = errors.value
      errors.value = rest
    } catch (err) {
      errors.value = { ...errors.value, [name]: err instanceof Error ? err.message : String(err) }
    }
  }

  const fetchPortfolio = () =>
    load('portfolio', () => api.get('/api/v1/analytics/portfolio'), (value) => (portfolio.value = value))
  const fetchHealth = () =>
    load('health', () => api.get('/api/v1/monitoring/health'), (value) => (health.value = value))
  const fetchActivity = () =>
    load(
      'activity',
      () => api.get('/api/v1/activity', { query: { limit: ACTIVITY_KEPT } }),
      (page) => (activity.value = page.items),
    )

  async function fetchAll(): Promise<void> {
    await Promise.all([fetchPortfolio(), fetchHealth(), fetchActivity()])
  }

  let portfolioRefresh: ReturnType<typeof setTimeout> | null = null

  function applyEvent(event: EventRead): void {
    if (!activity.value.some((known) => known.id === event.id)) {
      activity.value = [event, ...activity.value].sort((a, b) => b.id - a.id).slice(0, ACTIVITY_KEPT)
    }
    if (event.type.startsWith('trade.') && !portfolioRefresh) {
      portfolioRefresh = setTimeout(() => {
        portfolioRefresh = null
        void fetchPortfolio()
      }, 1000)
    }
  }

  return { portfolio, health, activity, errors, fetchPortfolio, fetchHealth, fetchActivity, fetchAll, applyEvent }
})
