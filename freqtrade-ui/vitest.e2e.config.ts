import { fileURLToPath, URL } from 'node:url'
import { defineConfig } from 'vitest/config'

// End-to-end: a real backend (started by e2e/backend.ts) and Debian's Chromium driven by
// playwright-core. Run with `npm run e2e` (scripts/e2e.sh installs Chromium where missing).
export default defineConfig({
  resolve: {
    alias: { '@': fileURLToPath(new URL('./src', import.meta.url)) },
  },
  test: {
    // E2E_BENCH=1 runs the load benchmark (e2e/*.bench-e2e.ts) instead of the tests.
    include: process.env.E2E_BENCH ? ['e2e/**/*.bench-e2e.ts'] : ['e2e/**/*.e2e.ts'],
    environment: 'node',
    globalSetup: ['e2e/backend.ts'],
    fileParallelism: false,
    testTimeout: 240_000,
    hookTimeout: 240_000,
    sequence: { concurrent: false },
  },
})
