import { describe, expect, it, vi } from 'vitest'
import { ApiClient, ApiError, type Session, type SessionStorage } from '@/api/client'

function memoryStorage(initial: Session | null = null): SessionStorage & { value: Session | null } {
  return {
    value: initial,
    load() {
      return this.value
    },
    save(session) {
      this.value = session
    },
  }
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })
}

const ok = (data: unknown) => json(200, { success: true, data, message: 'ok', timestamp: 'now' })
const fail = (status: number, code: string, message: string, details = {}) =>
  json(status, { success: false, error: { code, message, details }, timestamp: 'now' })

describe('ApiClient', () => {
  it('unwraps the envelope and sends the bearer token', async () => {
    const fetch = vi.fn(async () => ok({ items: [], total: 0, limit: 500, offset: 0 }))
    const client = new ApiClient({ fetch, storage: memoryStorage({ accessToken: 'A1', refreshToken: 'R1' }) })
    const page = await client.get('/api/v1/bots', { query: { limit: 500, search: 'x y' } })
    expect(page.total).toBe(0)
    const [url, init] = fetch.mock.calls[0] as unknown as [string, RequestInit]
    expect(url).toBe('/api/v1/bots?limit=500&search=x+y')
    expect((init.headers as Record<string, string>).Authorization).toBe('Bearer A1')
  })

  it('fills path parameters', async () => {
    const fetch = vi.fn(async () => ok({ id: 3 }))
    const client = new ApiClient({ fetch, storage: memoryStorage({ accessToken: 'A', refreshToken: 'R' }) })
    await client.post('/api/v1/bots/{bot_id}/start', { path: { bot_id: 3 } })
    expect((fetch.mock.calls[0] as unknown as [string])[0]).toBe('/api/v1/bots/3/start')
  })

  it('turns the error envelope into an ApiError with field errors', async () => {
    const fetch = vi.fn(async () =>
      fail(422, 'VALIDATION_ERROR', 'Invalid input: name, pairs.0.', {
        fields: [
          { field: 'name', message: 'String should match pattern' },
          { field: 'pairs.0', message: 'unknown pair' },
        ],
      }),
    )
    const client = new ApiClient({ fetch, storage: memoryStorage({ accessToken: 'A', refreshToken: 'R' }) })
    const error = await client.post('/api/v1/bots', { body: { name: '!' } }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ApiError)
    const apiError = error as ApiError
    expect(apiError.status).toBe(422)
    expect(apiError.message).toBe('Invalid input: name, pairs.0.')
    expect(apiError.fieldErrors).toEqual({
      name: 'String should match pattern',
      'pairs.0': 'unknown pair',
      pairs: 'unknown pair',
    })
  })

  it('refreshes once on a 401, stores the rotated tokens and retries', async () => {
    const storage = memoryStorage({ accessToken: 'old', refreshToken: 'R1' })
    const fetch = vi.fn(async (url: string, init?: RequestInit) => {
      if (url.endsWith('/auth/refresh')) {
        expect(JSON.parse(String(init?.body))).toEqual({ refresh_token: 'R1' })
        return ok({ access_token: 'new', refresh_token: 'R2', token_type: 'bearer', expires_in: 900, refresh_expires_in: 1 })
      }
      const auth = (init?.headers as Record<string, string>).Authorization
      return auth === 'Bearer new' ? ok({ id: 1, username: 'ann' }) : fail(401, 'TOKEN_EXPIRED', 'expired')
    })
    const client = new ApiClient({ fetch: fetch as typeof globalThis.fetch, storage })
    const me = await client.get('/api/v1/auth/me')
    expect(me.username).toBe('ann')
    expect(storage.value).toEqual({ accessToken: 'new', refreshToken: 'R2' })
  })

  it('shares one refresh between concurrent 401s (a refresh token works once)', async () => {
    let refreshes = 0
    const fetch = vi.fn(async (url: string, init?: RequestInit) => {
      if (url.endsWith('/auth/refresh')) {
        refreshes += 1
        return ok({ access_token: 'new', refresh_token: 'R2', token_type: 'bearer', expires_in: 1, refresh_expires_in: 1 })
      }
      const auth = (init?.headers as Record<string, string>).Authorization
      return auth === 'Bearer new' ? ok([]) : fail(401, 'TOKEN_EXPIRED', 'expired')
    })
    const client = new ApiClient({ fetch: fetch as typeof globalThis.fetch, storage: memoryStorage({ accessToken: 'old', refreshToken: 'R1' }) })
    await Promise.all([client.get('/api/v1/fleet/live'), client.get('/api/v1/fleet/live')])
    expect(refreshes).toBe(1)
  })

  it('takes the tokens another tab refreshed instead of reusing a spent refresh token', async () => {
    const storage = memoryStorage({ accessToken: 'old', refreshToken: 'R1' })
    const fetch = vi.fn(async (url: string, init?: RequestInit) => {
      if (url.endsWith('/auth/refresh')) throw new Error('must not refresh again')
      const auth = (init?.headers as Record<string, string>).Authorization
      return auth === 'Bearer fresh' ? ok({ id: 1, username: 'ann' }) : fail(401, 'TOKEN_EXPIRED', 'expired')
    })
    const client = new ApiClient({ fetch: fetch as typeof globalThis.fetch, storage })
    storage.value = { accessToken: 'fresh', refreshToken: 'R2' } // the other tab's refresh
    expect((await client.get('/api/v1/auth/me')).username).toBe('ann')
  })

  it('ends the session when the refresh fails, and says so', async () => {
    const storage = memoryStorage({ accessToken: 'old', refreshToken: 'R1' })
    const fetch = vi.fn(async (url: string) =>
      url.endsWith('/auth/refresh') ? fail(401, 'INVALID_TOKEN', 'bad refresh') : fail(401, 'TOKEN_EXPIRED', 'Token expired.'),
    )
    const client = new ApiClient({ fetch: fetch as typeof globalThis.fetch, storage })
    const expired = vi.fn()
    client.onSessionExpired = expired
    await expect(client.get('/api/v1/auth/me')).rejects.toMatchObject({ status: 401, message: 'Token expired.' })
    expect(expired).toHaveBeenCalledOnce()
    expect(storage.value).toBeNull()
    expect(client.isLoggedIn).toBe(false)
  })

  it('does not try to refresh a failed login', async () => {
    const fetch = vi.fn(async () => fail(401, 'INVALID_CREDENTIALS', 'Wrong username or password.'))
    const client = new ApiClient({ fetch, storage: memoryStorage() })
    await expect(client.login('ann', 'nope')).rejects.toMatchObject({ code: 'INVALID_CREDENTIALS' })
    expect(fetch).toHaveBeenCalledOnce()
  })

  it('reports an unreachable server in words', async () => {
    const fetch = vi.fn(async () => {
      throw new TypeError('Failed to fetch')
    })
    const client = new ApiClient({ fetch, storage: memoryStorage() })
    await expect(client.get('/api/v1/monitoring/health')).rejects.toMatchObject({ code: 'NETWORK_ERROR', status: 0 })
  })
})
