// How long the dashboard takes to show a fleet of 100 bots, from navigation to the last row of
// the bot grid, in Debian's Chromium against the real backend. Run with `npm run bench:load`;
// not part of `make test` (the numbers are recorded, not asserted beyond a generous ceiling).
import { afterAll, beforeAll, expect, inject, it } from 'vitest'
import type { Browser } from 'playwright-core'
import { ApiUser, launchBrowser, logIn } from './helpers'

const baseUrl = inject('baseUrl')
const FLEET = 100
const RUNS = 5
let browser: Browser
const admin = new ApiUser(baseUrl)

beforeAll(async () => {
  const account = { username: 'bench', email: 'bench@example.com', password: 'correct-horse-battery-6' }
  await admin.call('POST', '/api/v1/auth/register', account)
  await admin.login(account.username, account.password)
  // Creating a bot has freqtrade check its config: about 2.5 s each on two cores, one at a time
  // (concurrent creations can collide on a port and answer 409 "try again").
  for (let i = 0; i < FLEET; i++) {
    await admin.call('POST', '/api/v1/bots', { name: `bench-${String(i).padStart(3, '0')}`, pairs: ['BTC/USDT'] })
  }
  browser = await launchBrowser()
  const page = await browser.newPage({ baseURL: baseUrl })
  await page.goto('/login')
  await logIn(page, account.username, account.password)
  await page.waitForSelector('[data-testid=bot-grid] tbody tr >> nth=99')
  await page.context().storageState({ path: '/tmp/multibot-bench-state.json' })
  await page.close()
}, 900_000)

afterAll(async () => {
  await browser?.close()
})

it(`shows ${FLEET} bots on the dashboard`, async () => {
  const timings: number[] = []
  for (let run = 0; run < RUNS; run++) {
    const context = await browser.newContext({ baseURL: baseUrl, storageState: '/tmp/multibot-bench-state.json' })
    const page = await context.newPage()
    await page.goto('/')
    await page.waitForSelector(`[data-testid=bot-grid] tbody tr >> nth=${FLEET - 1}`)
    await page.waitForSelector('[data-testid=portfolio] [data-testid=total-value]')
    timings.push(await page.evaluate(() => performance.now()))
    await context.close()
  }
  timings.sort((a, b) => a - b)
  const median = timings[Math.floor(RUNS / 2)]!
  console.info(`dashboard with ${FLEET} bots: median ${median.toFixed(0)} ms, runs ${timings.map((t) => t.toFixed(0)).join(', ')} ms`)
  expect(median).toBeLessThan(10_000)
})
