import { createPinia, setActivePinia } from 'pinia'
import { nextTick } from 'vue'
import { beforeEach, describe, expect, it } from 'vitest'
import { DEFAULT_LAYOUT, restoreLayout, useLayoutStore } from '@/stores/layout'

describe('dashboard layout', () => {
  beforeEach(() => {
    localStorage.clear()
    setActivePinia(createPinia())
  })

  it('moves, resizes, hides and resets widgets, and remembers them', async () => {
    const layout = useLayoutStore()
    layout.move('health', 'portfolio')
    expect(layout.widgets.map((w) => w.id)).toEqual(['health', 'portfolio', 'bots', 'activity'])
    layout.move('health', null)
    expect(layout.widgets.map((w) => w.id)).toEqual(['portfolio', 'bots', 'activity', 'health'])
    layout.resize('activity')
    expect(layout.widgets.find((w) => w.id === 'activity')?.size).toBe('wide')
    layout.setHidden('bots', true)
    await nextTick()
    expect(restoreLayout(localStorage.getItem('multibot.dashboard-layout')).find((w) => w.id === 'bots')?.hidden).toBe(true)
    layout.reset()
    expect(layout.widgets).toEqual(DEFAULT_LAYOUT)
  })

  it('survives a damaged or outdated saved layout', () => {
    expect(restoreLayout('not json')).toEqual(DEFAULT_LAYOUT)
    const restored = restoreLayout(JSON.stringify([{ id: 'health', size: 'huge', hidden: true }, { id: 'gone' }]))
    expect(restored.map((w) => w.id)).toEqual(['health', 'portfolio', 'bots', 'activity'])
    expect(restored[0]).toEqual({ id: 'health', size: 'normal', hidden: true })
  })
})
