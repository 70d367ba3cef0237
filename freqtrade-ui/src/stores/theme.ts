import { defineStore } from 'pinia'
import { computed, ref } from 'vue'

export type ThemeChoice = 'system' | 'light' | 'dark'
export type Theme = 'light' | 'dark'

const STORAGE_KEY = 'multibot.theme'

function savedChoice(): ThemeChoice {
  const saved = typeof localStorage !== 'undefined' ? localStorage.getItem(STORAGE_KEY) : null
  return saved === 'light' || saved === 'dark' ? saved : 'system'
}

function systemPrefersDark(): boolean {
  return typeof window !== 'undefined' && typeof window.matchMedia === 'function'
    ? window.matchMedia('(prefers-color-scheme: dark)').matches
    : false
}

/** Light or dark: the system's until the user chooses, then theirs (kept in this browser). */
export const useThemeStore = defineStore('theme', () => {
  const choice = ref<ThemeChoice>(savedChoice())
  const systemDark = ref(systemPrefersDark())

  const theme = computed<Theme>(() =>
    choice.value === 'system' ? (systemDark.value ? 'dark' : 'light') : choice.value,
  )

  function apply(): void {
    if (typeof document !== 'undefined') document.documentElement.dataset.theme = theme.value
  }

  function choose(next: ThemeChoice): void {
    choice.value = next
    if (next === 'system') localStorage.removeItem(STORAGE_KEY)
    else localStorage.setItem(STORAGE_KEY, next)
    apply()
  }

  function toggle(): void {
    choose(theme.value === 'dark' ? 'light' : 'dark')
  }

  /** Follow the system's changes while the user has not chosen. */
  function watchSystem(): void {
    if (typeof window === 'undefined' || typeof window.matchMedia !== 'function') return
    window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', (event) => {
      systemDark.value = event.matches
      apply()
    })
  }

  return { choice, theme, choose, toggle, apply, watchSystem }
})
