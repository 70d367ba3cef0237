// The dashboard in a real browser against the real backend and a real freqtrade bot on the
// built-in market simulator.
import type { Browser, BrowserContext, Page, WebSocketRoute } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { ApiUser, launchBrowser, logIn, screenshot } from './helpers'

const baseUrl = inject('baseUrl')
const ADMIN = { username: 'ada', email: 'ada@example.com', password: 'correct-horse-battery-9' }
const VIEWER = { username: 'vera', email: 'vera@example.com', password: 'correct-horse-battery-8' }
const BOT_NAME = 'e2e-bot'

let browser: Browser
let context: BrowserContext
let page: Page
const admin = new ApiUser(baseUrl)
// The live feed passes through the browser's WebSocket route, so a test can cut it the way a
// restarting server does (close code 1012) and keep it down for a while.
let liveSocket: WebSocketRoute | null = null
let liveBlocked = false

async function botId(name: string): Promise<number> {
  const bots = await admin.call<{ items: { id: number; name: string }[] }>('GET', '/api/v1/bots')
  const bot = bots.items.find((b) => b.name === name)
  if (!bot) throw new Error(`no bot ${name}`)
  return bot.id
}

const marker = () => page.evaluate(() => (window as unknown as { e2eMarker?: number }).e2eMarker)

beforeAll(async () => {
  // The first account becomes the administrator.
  await admin.call('POST', '/api/v1/auth/register', ADMIN)
  await admin.login(ADMIN.username, ADMIN.password)
  browser = await launchBrowser()
  context = await browser.newContext({ baseURL: baseUrl, viewport: { width: 1280, height: 860 } })
  await context.routeWebSocket(/\/api\/v1\/ws\/bots/, (ws) => {
    if (liveBlocked) {
      void ws.close({ code: 1012, reason: 'e2e: server restarting' })
      return
    }
    ws.connectToServer()
    liveSocket = ws
  })
  page = await context.newPage()
})

afterAll(async () => {
  await browser?.close()
  // Bots outlive the server by design: stop them through the API (the set-up's teardown also
  // ends any process left under the temporary DATA_DIR).
  const bots = await admin.call<{ items: { id: number; status: string }[] }>('GET', '/api/v1/bots')
  await Promise.allSettled(
    bots.items.filter((b) => b.status !== 'stopped').map((b) => admin.call('POST', `/api/v1/bots/${b.id}/stop`)),
  )
})

describe('the dashboard', () => {
  it('sends a visitor to login and back to the page asked for', async () => {
    await page.goto('/bots')
    await page.waitForURL(/\/login\?redirect=(%2F|\/)bots$/)
    await screenshot(page, '01-login')
    await logIn(page, ADMIN.username, 'wrong-password-123')
    await expect.poll(() => page.textContent('[data-testid=login-error]')).toBeTruthy()
    await logIn(page, ADMIN.username, ADMIN.password)
    await page.waitForURL(`${baseUrl}/bots`)
    await page.waitForSelector('#bot-search')
  })

  it('serves client-side routes on reload and shows the live indicator', async () => {
    await page.goto('/')
    await page.waitForSelector('[data-testid=portfolio] [data-testid=total-value]')
    await page.waitForSelector('[data-testid=connection-indicator][data-state=live]', { timeout: 30_000 })
    await page.waitForSelector('[data-testid=health] .health-list li')
    await screenshot(page, '02-dashboard-empty')
  })

  it('creates a bot in the wizard, showing server errors next to the field without losing input', async () => {
    await page.click('nav >> text=Bots')
    await page.click('[data-testid=new-bot]')
    await page.fill('input[name=name]', BOT_NAME)
    await page.fill('input[name=description]', 'made by the e2e test')
    await page.click('[data-testid=wizard-next]') // -> exchange
    await page.click('[data-testid=wizard-next]') // -> pairs
    await page.fill('input[name=pairs]', 'BTC/USDT, ETH/USDT')
    await page.click('[data-testid=wizard-next]') // -> stake
    await page.fill('input[name=stake_amount]', '-5')
    await page.click('[data-testid=wizard-next]') // create: the server refuses the stake
    await page.waitForSelector('[data-testid=error-stake_amount]')
    await screenshot(page, '03-wizard-error')
    // Nothing typed was lost.
    await page.click('.steps >> text=1. Strategy')
    expect(await page.inputValue('input[name=name]')).toBe(BOT_NAME)
    expect(await page.inputValue('input[name=description]')).toBe('made by the e2e test')
    await page.click('.steps >> text=4. Stake')
    await page.fill('input[name=stake_amount]', '50')
    await page.click('[data-testid=wizard-next]')
    await page.waitForURL(/\/bots\/\d+$/)
    await page.waitForSelector(`h1:has-text("${BOT_NAME}")`)
    await screenshot(page, '04-bot-detail-stopped')
  })

  it('starts the bot and shows it running on the dashboard without a reload', async () => {
    await page.evaluate(() => ((window as unknown as { e2eMarker: number }).e2eMarker = 42))
    await page.click('[data-testid=start-bot]')
    await page.click('nav >> text=Dashboard')
    await page.waitForSelector(`[data-testid=bot-row-${BOT_NAME}] [data-testid=bot-status][data-status=running]`, { timeout: 180_000 })
    // The same page all along: the status came over the live feed (or the poll), not a reload.
    expect(await page.evaluate(() => (window as unknown as { e2eMarker?: number }).e2eMarker)).toBe(42)
    await page.waitForSelector('[data-testid=activity] li[data-type="bot.status"]')
    await screenshot(page, '05-dashboard-running')
  })

  it('shows a trade forced through the API in the activity feed and the bot grid within seconds', async () => {
    const id = await botId(BOT_NAME)
    await admin.call('POST', `/api/v1/bots/${id}/forceenter`, { pair: 'BTC/USDT' })
    await page.waitForSelector('[data-testid=activity] li[data-type="trade.entry"]', { timeout: 30_000 })
    await expect
      .poll(() => page.textContent(`[data-testid=bot-row-${BOT_NAME}] [data-testid=open-trade-count]`), { timeout: 30_000 })
      .toBe('1')
    expect(await marker()).toBe(42)
    await screenshot(page, '05b-dashboard-trade')
  })

  it('falls back to polling when the live feed drops, then goes live again', async () => {
    await page.waitForSelector('[data-testid=connection-indicator][data-state=live]')
    liveBlocked = true
    const polled = page.waitForRequest(/\/api\/v1\/fleet\/live/, { timeout: 10_000 })
    await liveSocket?.close({ code: 1012, reason: 'e2e: server restarting' })
    await page.waitForSelector('[data-testid=connection-indicator][data-state=polling]', { timeout: 10_000 })
    await polled // it re-reads the data at once, then every 30 s
    await screenshot(page, '05c-dashboard-polling')
    await page.waitForTimeout(3_000) // a reconnect attempt or two are refused meanwhile
    liveBlocked = false
    await page.waitForSelector('[data-testid=connection-indicator][data-state=live]', { timeout: 40_000 })
    expect(await marker()).toBe(42)
  })

  it('hides a widget and resets the layout', async () => {
    await page.click('[data-testid=customize]')
    await page.click('[data-testid=hide-health]')
    await page.waitForSelector('[data-widget=health]', { state: 'detached' })
    await screenshot(page, '05d-dashboard-customize')
    await page.click('[data-testid=reset-layout]')
    await page.waitForSelector('[data-widget=health]')
    await page.click('[data-testid=customize]')
  })

  it('switches theme with Ctrl+D and refreshes data with Ctrl+R without reloading', async () => {
    const before = await page.getAttribute('html', 'data-theme')
    await page.keyboard.press('Control+d')
    await expect.poll(() => page.getAttribute('html', 'data-theme')).not.toBe(before)
    await screenshot(page, '06-dashboard-other-theme')
    await page.keyboard.press('Control+r')
    await page.waitForTimeout(500)
    expect(await page.evaluate(() => (window as unknown as { e2eMarker?: number }).e2eMarker)).toBe(42)
    await page.keyboard.press('Control+d')
    await expect.poll(() => page.getAttribute('html', 'data-theme')).toBe(before)
  })

  it('opens help with F1 and closes it with Esc; Ctrl+B focuses the bot search', async () => {
    await page.keyboard.press('F1')
    await page.waitForSelector('[data-testid=shortcuts]')
    await page.keyboard.press('Escape')
    await page.waitForSelector('[data-testid=shortcuts]', { state: 'detached' })
    await page.keyboard.press('Control+b')
    await expect.poll(() => page.evaluate(() => document.activeElement?.id)).toBe('bot-search')
    await screenshot(page, '07-bots')
  })

  it('shows a bot deep link after a full reload', async () => {
    await page.goto(`/bots/${await botId(BOT_NAME)}`)
    await page.waitForSelector(`h1:has-text("${BOT_NAME}")`)
    await page.waitForSelector('[data-testid=stop-bot]')
    await page.waitForSelector('[data-testid=open-trades] td:has-text("BTC/USDT")')
    await page.click('[data-testid=pause-bot]')
    await page.waitForSelector('[data-testid=resume-bot]')
    await page.waitForSelector('[data-testid=config-editor] textarea')
    await page.waitForSelector('.apexcharts-canvas') // the charts library, loaded on demand
    await screenshot(page, '08-bot-detail-running')
  })

  it('opens every main page from the sidebar', async () => {
    const pages = [
      ['Analytics', '11-analytics', 'Fleet equity'],
      ['Strategies', '12-strategies', 'Library'],
      ['Backtesting', '13-backtesting', 'Jobs'],
      ['Settings', '14-settings', 'Profile'],
      ['Monitoring', '15-monitoring', 'Alerts'],
    ] as const
    await page.evaluate(() => ((window as unknown as { e2eMarker: number }).e2eMarker = 42))
    for (const [link, name, heading] of pages) {
      await page.click(`nav >> text=${link}`)
      await page.waitForSelector(`h2:has-text("${heading}")`)
      await page.waitForLoadState('networkidle')
      await screenshot(page, name)
    }
    expect(await marker()).toBe(42)
  })

  it('returns an expired session to login, then back to the page the user was on', async () => {
    const id = await botId(BOT_NAME)
    await page.evaluate(() =>
      localStorage.setItem('multibot.session', JSON.stringify({ accessToken: 'expired', refreshToken: 'revoked' })),
    )
    await page.goto(`/bots/${id}`)
    await page.waitForURL(/\/login\?/)
    expect(await page.textContent('.login-card')).toContain('session has ended')
    await logIn(page, ADMIN.username, ADMIN.password)
    await page.waitForURL(`${baseUrl}/bots/${id}`)
    await page.waitForSelector(`h1:has-text("${BOT_NAME}")`)
  })

  it('is usable at phone width', async () => {
    const phone = await context.newPage()
    await phone.setViewportSize({ width: 390, height: 844 })
    await phone.goto('/')
    await phone.waitForSelector('[data-testid=bot-grid]')
    await phone.click('.nav-toggle')
    await phone.click('nav >> text=Bots')
    await phone.waitForSelector('#bot-search')
    await phone.waitForTimeout(400) // the drawer slides shut after navigating
    await screenshot(phone, '09-phone-bots')
    await phone.close()
  })
})

describe('a viewer', () => {
  it('sees their bot but no start button', async () => {
    // A trader's bot, then the trader is made a viewer by the admin.
    const user = await admin.call<{ id: number }>('POST', '/api/v1/users', { ...VIEWER, role: 'trader' })
    const trader = await new ApiUser(baseUrl).login(VIEWER.username, VIEWER.password)
    const bot = await trader.call<{ id: number }>('POST', '/api/v1/bots', { name: 'vera-bot', pairs: ['BTC/USDT'] })
    await admin.call('PATCH', `/api/v1/users/${user.id}`, { role: 'viewer' })

    const viewerContext = await browser.newContext({ baseURL: baseUrl })
    const viewer = await viewerContext.newPage()
    await viewer.goto(`/bots/${bot.id}`)
    await logIn(viewer, VIEWER.username, VIEWER.password)
    await viewer.waitForURL(`${baseUrl}/bots/${bot.id}`)
    await viewer.waitForSelector('h1:has-text("vera-bot")')
    expect(await viewer.$('[data-testid=start-bot]')).toBeNull()
    await viewer.goto('/bots')
    await viewer.waitForSelector('[data-testid=bots-row-vera-bot]')
    expect(await viewer.$('[data-testid=start-bot]')).toBeNull()
    expect(await viewer.$('[data-testid=new-bot]')).toBeNull()
    await screenshot(viewer, '10-viewer-bots')
    await viewerContext.close()
  })
})
