import { defineStore } from 'pinia'
import { ref } from 'vue'
import { api } from '@/api/client'
import { LiveFeed, liveFeedUrl, type FeedState } from '@/api/liveFeed'
import type { EventRead } from '@/api/types'

export interface LiveHandlers {
  onEvent: (event: EventRead) => void
  /** Re-read everything while the socket is down; true when the server answered. */
  poll: () => Promise<boolean>
}

/** The connection indicator's state and the one live feed of the app. */
export const useLiveStore = defineStore('live', () => {
  const state = ref<FeedState>('offline')
  let feed: LiveFeed | null = null

  function start(handlers: LiveHandlers): void {
    if (feed) return
    feed = new LiveFeed({
      url: liveFeedUrl(),
      token: () => api.accessToken,
      refreshToken: () => api.refresh(),
      onEvent: handlers.onEvent,
      poll: handlers.poll,
      onStateChange: (next) => (state.value = next),
    })
    feed.start()
  }

  function stop(): void {
    feed?.stop()
    feed = null
    state.value = 'offline'
  }

  return { state, start, stop }
})
