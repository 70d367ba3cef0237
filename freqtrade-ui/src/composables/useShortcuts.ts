import { onBeforeUnmount, onMounted } from 'vue'

export interface ShortcutHandlers {
  toggleTheme: () => void
  refreshAll: () => void
  focusBotSearch: () => void
  closeOverlays: () => void
  openHelp: () => void
}

/** The seed's keyboard shortcuts: Ctrl+D, Ctrl+R, Ctrl+B, Esc and F1. */
export function handleShortcut(event: KeyboardEvent, handlers: ShortcutHandlers): boolean {
  const ctrl = event.ctrlKey || event.metaKey
  const key = event.key.toLowerCase()
  let handled = true
  if (ctrl && !event.shiftKey && !event.altKey && key === 'd') handlers.toggleTheme()
  else if (ctrl && !event.shiftKey && !event.altKey && key === 'r') handlers.refreshAll()
  else if (ctrl && !event.shiftKey && !event.altKey && key === 'b') handlers.focusBotSearch()
  else if (key === 'escape') handlers.closeOverlays()
  else if (key === 'f1') handlers.openHelp()
  else handled = false
  // Ctrl+R must refresh the data, not reload the page; Ctrl+D not bookmark it.
  if (handled && key !== 'escape') event.preventDefault()
  return handled
}

export function useShortcuts(handlers: ShortcutHandlers): void {
  const listener = (event: KeyboardEvent) => handleShortcut(event, handlers)
  onMounted(() => window.addEventListener('keydown', listener))
  onBeforeUnmount(() => window.removeEventListener('keydown', listener))
}
