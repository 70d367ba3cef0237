// The one API client: unwraps the server's envelope, attaches the access token, refreshes it
// once on a 401 (the refresh token rotates), and reports an expired session to the app.
import type { paths } from './schema'

export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete'

type Operation<P extends keyof paths, M extends HttpMethod> = NonNullable<paths[P][M]>
export type PathsWith<M extends HttpMethod> = {
  [P in keyof paths]: [Operation<P, M>] extends [never] ? never : P
}[keyof paths]

type JsonOf<R> = R extends { content: { 'application/json': infer J } } ? J : never
type SuccessOf<O> = O extends { responses: infer R }
  ? 200 extends keyof R
    ? JsonOf<R[200]>
    : 201 extends keyof R
      ? JsonOf<R[201]>
      : 202 extends keyof R
        ? JsonOf<R[202]>
        : never
  : never
/** The `data` of the success envelope a route answers. */
export type DataOf<P extends keyof paths, M extends HttpMethod> =
  SuccessOf<Operation<P, M>> extends { data?: infer D } ? D : never

type ParamsOf<O, K extends 'path' | 'query'> = O extends { parameters: { [key in K]?: infer X } }
  ? X
  : never
type BodyOf<O> = O extends { requestBody?: { content: { 'application/json': infer B } } } ? B : never

export interface RequestOptions<P extends keyof paths, M extends HttpMethod> {
  path?: ParamsOf<Operation<P, M>, 'path'>
  query?: ParamsOf<Operation<P, M>, 'query'>
  body?: BodyOf<Operation<P, M>>
  signal?: AbortSignal
}

export interface FieldError {
  field: string
  message: string
}

/** A failed request, carrying the server's own code and message. */
export class ApiError extends Error {
  readonly status: number
  readonly code: string
  readonly details: Record<string, unknown>

  constructor(status: number, code: string, message: string, details: Record<string, unknown> = {}) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.code = code
    this.details = details
  }

  /** Validation errors by field name (`pairs.0` is reported under `pairs` too). */
  get fieldErrors(): Record<string, string> {
    const fields = this.details.fields
    const out: Record<string, string> = {}
    if (!Array.isArray(fields)) return out
    for (const entry of fields as FieldError[]) {
      if (!entry || typeof entry.field !== 'string') continue
      out[entry.field] ??= entry.message
      const top = entry.field.split('.')[0] ?? entry.field
      out[top] ??= entry.message
    }
    return out
  }
}

export interface Session {
  accessToken: string
  refreshToken: string
}

export interface SessionStorage {
  load(): Session | null
  save(session: Session | null): void
}

const SESSION_KEY = 'multibot.session'

export const browserSessionStorage: SessionStorage = {
  load() {
    try {
      const raw = localStorage.getItem(SESSION_KEY)
      return raw ? (JSON.parse(raw) as Session) : null
    } catch {
      return null
    }
  },
  save(session) {
    if (session) localStorage.setItem(SESSION_KEY, JSON.stringify(session))
    else localStorage.removeItem(SESSION_KEY)
  },
}

export interface ApiClientOptions {
  baseUrl?: string
  fetch?: typeof fetch
  storage?: SessionStorage
}

const AUTH_PATHS = new Set(['/api/v1/auth/login', '/api/v1/auth/refresh', '/api/v1/auth/register'])

function fillPath(template: string, params: Record<string, unknown> | undefined): string {
  return template.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = params?.[name]
    if (value === undefined || value === null) throw new Error(`missing path parameter ${name}`)
    return encodeURIComponent(String(value))
  })
}

function queryString(query: Record<string, unknown> | undefined): string {
  if (!query) return ''
  const search = new URLSearchParams()
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === '') continue
    for (const item of Array.isArray(value) ? value : [value]) search.append(key, String(item))
  }
  const text = search.toString()
  return text ? `?${text}` : ''
}

async function readEnvelope(response: Response): Promise<unknown> {
  const text = await response.text()
  if (!text) return null
  try {
    return JSON.parse(text) as unknown
  } catch {
    return { success: false, error: { code: 'BAD_RESPONSE', message: text.slice(0, 200) } }
  }
}

function errorFrom(status: number, body: unknown): ApiError {
  const error = (body as { error?: Partial<{ code: string; message: string; details: Record<string, unknown> }> } | null)
    ?.error
  if (error && typeof error.message === 'string') {
    return new ApiError(status, error.code ?? 'ERROR', error.message, error.details ?? {})
  }
  return new ApiError(status, 'HTTP_ERROR', `The server answered ${status}.`)
}

export class ApiClient {
  private readonly baseUrl: string
  private readonly fetchImpl: typeof fetch
  private readonly storage: SessionStorage
  private session: Session | null
  private refreshing: Promise<boolean> | null = null
  /** Called once a session can no longer be refreshed (the app sends the user to login). */
  onSessionExpired: (() => void) | null = null
  /** Called after each successful refresh (the live feed reconnects with the new token). */
  onSessionChanged: ((session: Session | null) => void) | null = null

  constructor(options: ApiClientOptions = {}) {
    this.baseUrl = options.baseUrl ?? ''
    this.fetchImpl = options.fetch ?? ((...args) => fetch(...args))
    this.storage = options.storage ?? browserSessionStorage
    this.session = this.storage.load()
  }

  get accessToken(): string | null {
    return this.session?.accessToken ?? null
  }

  get isLoggedIn(): boolean {
    return this.session !== null
  }

  setSession(session: Session | null): void {
    this.session = session
    this.storage.save(session)
    this.onSessionChanged?.(session)
  }

  async login(username: string, password: string, totpCode?: string): Promise<void> {
    const tokens = await this.post('/api/v1/auth/login', {
      body: { username, password, ...(totpCode ? { totp_code: totpCode } : {}) },
    })
    this.setSession({ accessToken: tokens.access_token, refreshToken: tokens.refresh_token })
  }

  async logout(): Promise<void> {
    try {
      if (this.session) await this.post('/api/v1/auth/logout')
    } catch {
      // Logging out locally matters more than telling the server.
    } finally {
      this.setSession(null)
    }
  }

  /** Exchange the refresh token for a new pair; false when the session is over. Concurrent
   *  callers share one refresh, since each refresh token works only once. */
  refresh(): Promise<boolean> {
    this.refreshing ??= this.doRefresh().finally(() => {
      this.refreshing = null
    })
    return this.refreshing
  }

  private doRefresh(): Promise<boolean> {
    // Tabs share the stored session, and a refresh token works once: refresh in one tab at a
    // time (a Web Lock where the browser has them), after checking that another did not.
    const locks = typeof navigator !== 'undefined' ? navigator.locks : undefined
    return locks
      ? locks.request('multibot.refresh', () => this.refreshUnlocked()).then((refreshed) => refreshed)
      : this.refreshUnlocked()
  }

  private async refreshUnlocked(): Promise<boolean> {
    const stored = this.storage.load()
    if (stored && this.session && stored.refreshToken !== this.session.refreshToken) {
      this.session = stored // another tab refreshed already
      this.onSessionChanged?.(stored)
      return true
    }
    const refreshToken = this.session?.refreshToken
    if (!refreshToken) return false
    try {
      const tokens = await this.post('/api/v1/auth/refresh', { body: { refresh_token: refreshToken } })
      this.setSession({ accessToken: tokens.access_token, refreshToken: tokens.refresh_token })
      return true
    } catch (error) {
      if (error instanceof ApiError && error.status >= 500) throw error
      return false
    }
  }

  private expire(): void {
    this.setSession(null)
    this.onSessionExpired?.()
  }

  async request<P extends PathsWith<M>, M extends HttpMethod>(
    method: M,
    path: P,
    options: RequestOptions<P, M> = {},
  ): Promise<DataOf<P, M>> {
    const url =
      this.baseUrl +
      fillPath(path, options.path as Record<string, unknown> | undefined) +
      queryString(options.query as Record<string, unknown> | undefined)
    const isAuthCall = AUTH_PATHS.has(path)
    const send = (): Promise<Response> => {
      const headers: Record<string, string> = { Accept: 'application/json' }
      if (options.body !== undefined) headers['Content-Type'] = 'application/json'
      if (this.session && !isAuthCall) headers.Authorization = `Bearer ${this.session.accessToken}`
      return this.fetchImpl(url, {
        method: method.toUpperCase(),
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        signal: options.signal,
      })
    }

    let response: Response
    try {
      response = await send()
    } catch (error) {
      if (error instanceof DOMException && error.name === 'AbortError') throw error
      throw new ApiError(0, 'NETWORK_ERROR', 'The server cannot be reached. Is it running?')
    }
    if (response.status === 401 && !isAuthCall && this.session) {
      if (await this.refresh()) {
        response = await send()
      }
      if (response.status === 401) {
        this.expire()
      }
    }
    const body = await readEnvelope(response)
    if (!response.ok || (body as { success?: boolean } | null)?.success === false) {
      throw errorFrom(response.status, body)
    }
    return (body as { data: DataOf<P, M> }).data
  }

  get<P extends PathsWith<'get'>>(path: P, options?: RequestOptions<P, 'get'>): Promise<DataOf<P, 'get'>> {
    return this.request('get', path, options)
  }

  post<P extends PathsWith<'post'>>(path: P, options?: RequestOptions<P, 'post'>): Promise<DataOf<P, 'post'>> {
    return this.request('post', path, options)
  }

  put<P extends PathsWith<'put'>>(path: P, options?: RequestOptions<P, 'put'>): Promise<DataOf<P, 'put'>> {
    return this.request('put', path, options)
  }

  patch<P extends PathsWith<'patch'>>(path: P, options?: RequestOptions<P, 'patch'>): Promise<DataOf<P, 'patch'>> {
    return this.request('patch', path, options)
  }

  delete<P extends PathsWith<'delete'>>(path: P, options?: RequestOptions<P, 'delete'>): Promise<DataOf<P, 'delete'>> {
    return this.request('delete', path, options)
  }
}

/** The app's client; tests make their own. */
export const api = new ApiClient()
