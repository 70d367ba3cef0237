import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import { api } from '@/api/client'
import type { UserRead } from '@/api/types'

export const useAuthStore = defineStore('auth', () => {
  const user = ref<UserRead | null>(null)
  const loggedIn = ref(api.isLoggedIn)

  const role = computed(() => user.value?.role ?? null)
  const isAdmin = computed(() => role.value === 'admin')
  /** Viewers watch; traders and admins may start, stop and create bots. */
  const canTrade = computed(() => role.value === 'admin' || role.value === 'trader')

  api.onSessionChanged = (session) => {
    loggedIn.value = session !== null
    if (!session) user.value = null
  }

  async function login(username: string, password: string, totpCode?: string): Promise<void> {
    await api.login(username, password, totpCode)
    await loadMe()
  }

  async function register(username: string, email: string, password: string): Promise<void> {
    await api.post('/api/v1/auth/register', { body: { username, email, password } })
    await login(username, password)
  }

  async function loadMe(): Promise<UserRead | null> {
    if (!api.isLoggedIn) return null
    user.value = await api.get('/api/v1/auth/me')
    return user.value
  }

  async function logout(): Promise<void> {
    await api.logout()
    user.value = null
  }

  return { user, loggedIn, role, isAdmin, canTrade, login, register, loadMe, logout }
})
