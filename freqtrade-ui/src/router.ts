import { createRouter, createWebHistory, type RouteLocationRaw, type Router } from 'vue-router'
import { api } from '@/api/client'

declare module 'vue-router' {
  interface RouteMeta {
    public?: boolean
    adminOnly?: boolean
    title?: string
  }
}

export function createAppRouter(): Router {
  const router = createRouter({
    history: createWebHistory(),
    routes: [
      { path: '/login', name: 'login', component: () => import('@/pages/LoginPage.vue'), meta: { public: true, title: 'Log in' } },
      { path: '/', name: 'dashboard', component: () => import('@/pages/DashboardPage.vue'), meta: { title: 'Dashboard' } },
      { path: '/bots', name: 'bots', component: () => import('@/pages/BotsPage.vue'), meta: { title: 'Bots' } },
      { path: '/bots/:id(\\d+)', name: 'bot', component: () => import('@/pages/BotDetailPage.vue'), props: (route) => ({ id: Number(route.params.id) }), meta: { title: 'Bot' } },
      { path: '/strategies', name: 'strategies', component: () => import('@/pages/StrategiesPage.vue'), meta: { title: 'Strategies' } },
      { path: '/analytics', name: 'analytics', component: () => import('@/pages/AnalyticsPage.vue'), meta: { title: 'Analytics' } },
      { path: '/backtesting', name: 'backtesting', component: () => import('@/pages/BacktestingPage.vue'), meta: { title: 'Backtesting' } },
      { path: '/settings', name: 'settings', component: () => import('@/pages/SettingsPage.vue'), meta: { title: 'Settings' } },
      { path: '/monitoring', name: 'monitoring', component: () => import('@/pages/MonitoringPage.vue'), meta: { title: 'Monitoring', adminOnly: true } },
      { path: '/:pathMatch(.*)*', name: 'not-found', component: () => import('@/pages/NotFoundPage.vue'), meta: { title: 'Not found' } },
    ],
  })

  router.beforeEach((to): RouteLocationRaw | true => {
    if (!to.meta.public && !api.isLoggedIn) {
      return { name: 'login', query: to.fullPath === '/' ? {} : { redirect: to.fullPath } }
    }
    if (to.name === 'login' && api.isLoggedIn) return { path: '/' }
    return true
  })
  router.afterEach((to) => {
    document.title = `${to.meta.title ?? 'Dashboard'} · Freqtrade Multi-Bot`
  })

  // An expired session returns to login, which brings the user back here afterwards.
  api.onSessionExpired = () => {
    const here = router.currentRoute.value
    if (here.meta.public) return
    void router.push({ name: 'login', query: { redirect: here.fullPath, expired: '1' } })
  }
  return router
}

/** Where to go after logging in: the page the user came from, never another site. */
export function safeRedirect(value: unknown): string {
  return typeof value === 'string' && value.startsWith('/') && !value.startsWith('//') ? value : '/'
}
