// Names for the generated OpenAPI types (src/api/schema.d.ts, `npm run gen:api`).
import type { components, paths } from './schema'

export type { paths }
export type Schemas = components['schemas']

export type UserRead = Schemas['UserRead']
export type Role = Schemas['Role']
export type TokenPair = Schemas['TokenPair']
export type BotRead = Schemas['BotRead']
export type BotCreate = Schemas['BotCreate']
export type BotStatus = Schemas['BotStatus']
export type BotLiveRead = Schemas['BotLiveRead']
export type BotStateChange = Schemas['BotStateChange']
export type ExternalBotCreate = Schemas['ExternalBotCreate']
export type Trade = Schemas['Trade']
export type Profit = Schemas['Profit']
export type Balances = Schemas['Balances']
export type PortfolioRead = Schemas['PortfolioRead']
export type EventRead = Schemas['EventRead']
export type SystemHealth = Schemas['SystemHealth']
export type AlertRead = Schemas['AlertRead']
export type ErrorBody = Schemas['ErrorBody']
export type StrategySummary = Schemas['StrategySummary']
export type JobRead = Schemas['JobRead']
