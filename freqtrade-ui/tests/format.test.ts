import { describe, expect, it } from 'vitest'
import { formatDuration, formatMoney, formatPercent, formatRelative, formatSigned, signClass, toNumber, uptimeSeconds } from '@/utils/format'

describe('formatters', () => {
  it('reads the API decimal strings', () => {
    expect(toNumber('12.5')).toBe(12.5)
    expect(toNumber('')).toBeNull()
    expect(toNumber('abc')).toBeNull()
    expect(toNumber(null)).toBeNull()
  })

  it('formats money, signs and percentages', () => {
    expect(formatMoney('1234.5', 'USDT')).toBe('1,234.50 USDT')
    expect(formatMoney(null)).toBe('—')
    expect(formatSigned(3.456)).toBe('+3.46')
    expect(formatSigned(-3)).toBe('−3.00')
    expect(formatSigned(0)).toBe('0.00')
    expect(formatPercent(0.0123)).toBe('+1.23 %')
    expect(formatPercent(-0.5)).toBe('−50.00 %')
  })

  it('classes profit and loss', () => {
    expect(signClass('1')).toBe('profit')
    expect(signClass(-0.1)).toBe('loss')
    expect(signClass(0)).toBe('flat')
    expect(signClass(null)).toBe('flat')
  })

  it('formats durations and uptime', () => {
    expect(formatDuration(45)).toBe('45s')
    expect(formatDuration(125)).toBe('2m 5s')
    expect(formatDuration(3 * 3600 + 120)).toBe('3h 2m')
    expect(formatDuration(2 * 86400 + 5 * 3600)).toBe('2d 5h')
    expect(formatDuration(null)).toBe('—')
    const now = Date.parse('2026-01-01T12:00:00Z')
    expect(uptimeSeconds('2026-01-01T11:00:00Z', now)).toBe(3600)
    expect(uptimeSeconds(null, now)).toBeNull()
  })

  it('says how long ago', () => {
    const now = Date.parse('2026-01-01T12:00:00Z')
    expect(formatRelative('2026-01-01T11:59:50Z', now)).toBe('just now')
    expect(formatRelative('2026-01-01T11:50:00Z', now)).toBe('10 min ago')
    expect(formatRelative('2026-01-01T09:00:00Z', now)).toBe('3 h ago')
    expect(formatRelative('2025-12-01T09:00:00Z', now)).toBe('2025-12-01 09:00')
  })
})
