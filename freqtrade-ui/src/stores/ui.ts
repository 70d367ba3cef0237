import { defineStore } from 'pinia'
import { ref } from 'vue'

/** The one open menu or dialog (Esc closes it), and the page's extra refreshers (Ctrl+R). */
export const useUiStore = defineStore('ui', () => {
  const overlay = ref<string | null>(null)
  const refreshing = ref(false)
  const refreshers = new Set<() => Promise<unknown>>()

  function open(name: string): void {
    overlay.value = name
  }

  function toggle(name: string): void {
    overlay.value = overlay.value === name ? null : name
  }

  function close(name?: string): void {
    if (name === undefined || overlay.value === name) overlay.value = null
  }

  function addRefresher(refresh: () => Promise<unknown>): () => void {
    refreshers.add(refresh)
    return () => refreshers.delete(refresh)
  }

  return { overlay, refreshing, refreshers, open, toggle, close, addRefresher }
})
