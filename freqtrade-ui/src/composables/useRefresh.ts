import { onBeforeUnmount } from 'vue'
import { useAlertsStore } from '@/stores/alerts'
import { useBotsStore } from '@/stores/bots'
import { useDashboardStore } from '@/stores/dashboard'
import { useUiStore } from '@/stores/ui'

/** Re-read every store and the open page's own data (Ctrl+R, and the 30 s poll). Resolves
 *  true when the server answered. */
export async function refreshAll(): Promise<boolean> {
  const ui = useUiStore()
  ui.refreshing = true
  try {
    const results = await Promise.allSettled([
      useBotsStore().fetchAll(),
      useDashboardStore().fetchAll(),
      useAlertsStore().fetchUnacknowledged(),
      ...[...ui.refreshers].map((refresh) => refresh()),
    ])
    return results.some((result) => result.status === 'fulfilled')
  } finally {
    ui.refreshing = false
  }
}

/** Let a page's own data join "refresh all" while the page is open. */
export function useRefresher(refresh: () => Promise<unknown>): void {
  const remove = useUiStore().addRefresher(refresh)
  onBeforeUnmount(remove)
}
