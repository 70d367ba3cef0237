import { mkdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { chromium, type Browser, type Page } from 'playwright-core'

export const SCREENSHOTS = resolve(import.meta.dirname, '..', 'screenshots')
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

export async function launchBrowser(): Promise<Browser> {
  mkdirSync(SCREENSHOTS, { recursive: true })
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
  })
}

export async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true })
}

/** Calls the real API the way a script would (to set up users and bots). */
export class ApiUser {
  token = ''
  constructor(readonly baseUrl: string) {}

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: { 'Content-Type': 'application/json', ...(this.token ? { Authorization: `Bearer ${this.token}` } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    const envelope = (await response.json()) as { success: boolean; data: T; error?: { message: string } }
    if (!envelope.success) throw new Error(`${method} ${path}: ${response.status} ${envelope.error?.message}`)
    return envelope.data
  }

  async login(username: string, password: string): Promise<this> {
    const tokens = await this.call<{ access_token: string }>('POST', '/api/v1/auth/login', { username, password })
    this.token = tokens.access_token
    return this
  }
}

/** Log in through the form; lands on the dashboard (or the page asked for). */
export async function logIn(page: Page, username: string, password: string): Promise<void> {
  await page.fill('input[name=username]', username)
  await page.fill('input[name=password]', password)
  await page.click('button[type=submit]')
}
