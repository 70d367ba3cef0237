// Numbers, money and times as a person reads them. The API sends decimals as strings.

export type Numeric = number | string | null | undefined

export function toNumber(value: Numeric): number | null {
  if (value === null || value === undefined || value === '') return null
  const number = typeof value === 'number' ? value : Number(value)
  return Number.isFinite(number) ? number : null
}

export function formatMoney(value: Numeric, currency = 'USDT', digits = 2): string {
  const number = toNumber(value)
  if (number === null) return '—'
  const text = number.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
  return `${text} ${currency}`
}

/** A signed amount: "+12.50" or "−3.10" (a real minus sign). */
export function formatSigned(value: Numeric, digits = 2): string {
  const number = toNumber(value)
  if (number === null) return '—'
  const text = Math.abs(number).toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
  if (number > 0) return `+${text}`
  if (number < 0) return `−${text}`
  return text
}

/** A ratio (0.0123) as a signed percentage ("+1.23 %"). */
export function formatPercent(ratio: Numeric, digits = 2): string {
  const number = toNumber(ratio)
  if (number === null) return '—'
  return `${formatSigned(number * 100, digits)} %`
}

/** The sign of a value as a CSS class: profit, loss or flat. */
export function signClass(value: Numeric): 'profit' | 'loss' | 'flat' {
  const number = toNumber(value)
  if (number === null || number === 0) return 'flat'
  return number > 0 ? 'profit' : 'loss'
}

/** "3d 4h", "2h 5m", "45s". */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '—'
  const s = Math.floor(seconds)
  const days = Math.floor(s / 86400)
  const hours = Math.floor((s % 86400) / 3600)
  const minutes = Math.floor((s % 3600) / 60)
  if (days > 0) return `${days}d ${hours}h`
  if (hours > 0) return `${hours}h ${minutes}m`
  if (minutes > 0) return `${minutes}m ${s % 60}s`
  return `${s}s`
}

/** How long since `since` (an ISO time), for a running bot's uptime. */
export function uptimeSeconds(since: string | null | undefined, now: number = Date.now()): number | null {
  if (!since) return null
  const started = Date.parse(since)
  return Number.isNaN(started) ? null : Math.max(0, (now - started) / 1000)
}

/** "just now", "5 min ago", "3 h ago", else the date. */
export function formatRelative(iso: string | null | undefined, now: number = Date.now()): string {
  if (!iso) return '—'
  const time = Date.parse(iso)
  if (Number.isNaN(time)) return '—'
  const seconds = Math.round((now - time) / 1000)
  if (seconds < 45) return 'just now'
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`
  return new Date(time).toISOString().slice(0, 16).replace('T', ' ')
}

export function formatDateTime(iso: string | null | undefined): string {
  if (!iso) return '—'
  const time = Date.parse(iso)
  return Number.isNaN(time) ? '—' : new Date(time).toISOString().slice(0, 19).replace('T', ' ')
}
