import { defineStore } from 'pinia'
import { ref } from 'vue'
import { api } from '@/api/client'
import type { AlertRead, EventRead } from '@/api/types'

/** The bell: alerts nobody has acknowledged yet. */
export const useAlertsStore = defineStore('alerts', () => {
  const unacknowledged = ref<AlertRead[]>([])
  const total = ref(0)

  async function fetchUnacknowledged(): Promise<void> {
    const page = await api.get('/api/v1/monitoring/alerts', { query: { acknowledged: false, limit: 20 } })
    unacknowledged.value = page.items
    total.value = page.total
  }

  async function acknowledge(id: number): Promise<void> {
    await api.post('/api/v1/monitoring/alerts/{alert_id}/acknowledge', { path: { alert_id: id } })
    unacknowledged.value = unacknowledged.value.filter((alert) => alert.id !== id)
    total.value = Math.max(0, total.value - 1)
  }

  function applyEvent(event: EventRead): void {
    if (event.type === 'alert') void fetchUnacknowledged().catch(() => undefined)
  }

  return { unacknowledged, total, fetchUnacknowledged, acknowledge, applyEvent }
})
