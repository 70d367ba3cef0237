import { defineStore } from 'pinia'
import { ref, watch } from 'vue'

export type WidgetId = 'portfolio' | 'bots' | 'activity' | 'health'
export type WidgetSize = 'normal' | 'wide' | 'full'

export interface WidgetPlacement {
  id: WidgetId
  size: WidgetSize
  hidden: boolean
}

export const WIDGET_TITLES: Record<WidgetId, string> = {
  portfolio: 'Portfolio',
  bots: 'Bots',
  activity: 'Recent activity',
  health: 'System health',
}

export const DEFAULT_LAYOUT: readonly WidgetPlacement[] = Object.freeze([
  { id: 'portfolio', size: 'full', hidden: false },
  { id: 'bots', size: 'wide', hidden: false },
  { id: 'activity', size: 'normal', hidden: false },
  { id: 'health', size: 'normal', hidden: false },
])
const SIZES: WidgetSize[] = ['normal', 'wide', 'full']
// Kept in this browser for now: the server has no per-user preferences endpoint yet.
const STORAGE_KEY = 'multibot.dashboard-layout'

function copyDefault(): WidgetPlacement[] {
  return DEFAULT_LAYOUT.map((widget) => ({ ...widget }))
}

/** A saved layout, checked: unknown widgets dropped, new ones added at the end. */
export function restoreLayout(raw: string | null): WidgetPlacement[] {
  if (!raw) return copyDefault()
  try {
    const saved = JSON.parse(raw) as Partial<WidgetPlacement>[]
    const known = new Map(DEFAULT_LAYOUT.map((widget) => [widget.id, widget]))
    const result: WidgetPlacement[] = []
    for (const entry of Array.isArray(saved) ? saved : []) {
      const base = entry.id ? known.get(entry.id) : undefined
      if (!base || result.some((widget) => widget.id === base.id)) continue
      result.push({
        id: base.id,
        size: SIZES.includes(entry.size as WidgetSize) ? (entry.size as WidgetSize) : base.size,
        hidden: entry.hidden === true,
      })
    }
    for (const widget of DEFAULT_LAYOUT) {
      if (!result.some((placed) => placed.id === widget.id)) result.push({ ...widget })
    }
    return result
  } catch {
    return copyDefault()
  }
}

/** The dashboard's widgets: their order, size and visibility (drag, resize, hide, reset). */
export const useLayoutStore = defineStore('layout', () => {
  const widgets = ref<WidgetPlacement[]>(restoreLayout(localStorage.getItem(STORAGE_KEY)))
  const editing = ref(false)

  watch(widgets, (value) => localStorage.setItem(STORAGE_KEY, JSON.stringify(value)), { deep: true })

  function move(id: WidgetId, before: WidgetId | null): void {
    const moving = widgets.value.find((widget) => widget.id === id)
    if (!moving || id === before) return
    const rest = widgets.value.filter((widget) => widget.id !== id)
    const index = before === null ? rest.length : rest.findIndex((widget) => widget.id === before)
    rest.splice(index < 0 ? rest.length : index, 0, moving)
    widgets.value = rest
  }

  function resize(id: WidgetId): void {
    const widget = widgets.value.find((w) => w.id === id)
    if (widget) widget.size = SIZES[(SIZES.indexOf(widget.size) + 1) % SIZES.length] ?? 'normal'
  }

  function setHidden(id: WidgetId, hidden: boolean): void {
    const widget = widgets.value.find((w) => w.id === id)
    if (widget) widget.hidden = hidden
  }

  function reset(): void {
    widgets.value = copyDefault()
  }

  return { widgets, editing, move, resize, setHidden, reset }
})
