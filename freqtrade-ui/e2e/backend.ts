// Start the real backend for the end-to-end tests: `multibot serve` on a free port with a
// temporary DATA_DIR, the embedded market simulator on another free port, and the built
// dashboard (freqtrade-ui/dist) that it serves at `/`.
import { spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import type { TestProject } from 'vitest/node'

declare module 'vitest' {
  export interface ProvidedContext {
    baseUrl: string
  }
}

const REPO = resolve(import.meta.dirname, '..', '..')

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => resolvePort(port))
    })
  })
}

async function waitForHealth(url: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the backend exited with ${child.exitCode}`)
    try {
      const response = await fetch(`${url}/health`)
      if (response.ok) return
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 500))
  }
  throw new Error(`the backend did not answer ${url}/health within ${timeoutMs} ms`)
}

/** Processes whose command line names our temporary DATA_DIR: the freqtrade bots this run
 *  started, which outlive the server by design (their desired state is kept). */
function processesUsing(dataDir: string): number[] {
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(dataDir)) pids.push(Number(entry))
    } catch {
      // gone already
    }
  }
  return pids
}

async function stopProcesses(pids: number[]): Promise<void> {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGTERM')
    } catch {
      // gone already
    }
  }
  const deadline = Date.now() + 20_000
  while (Date.now() < deadline && pids.some((pid) => existsSync(`/proc/${pid}`))) {
    await new Promise((r) => setTimeout(r, 250))
  }
  for (const pid of pids.filter((p) => existsSync(`/proc/${p}`))) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // gone already
    }
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  if (!existsSync(join(REPO, 'freqtrade-ui', 'dist', 'index.html'))) {
    throw new Error('freqtrade-ui/dist is missing: run `npm run build` first (scripts/e2e.sh does)')
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'multibot-e2e-'))
  const [port, simulatorPort, botPortStart] = [await freePort(), await freePort(), 20000 + Math.floor(Math.random() * 100) * 200]
  const log = createWriteStream(join(REPO, 'freqtrade-ui', 'screenshots', 'backend.log'))
  const child = spawn(join(REPO, '.venv', 'bin', 'multibot'), ['serve', '--host', '127.0.0.1', '--port', String(port)], {
    cwd: dataDir, // no stray .env; everything the server writes stays in the temp dir
    env: {
      ...process.env,
      ENVIRONMENT: 'development',
      DATA_DIR: dataDir,
      SIMULATOR_PORT: String(simulatorPort),
      DEMO_FLEET: 'false',
      RATE_LIMIT_ANONYMOUS: '1000',
      RATE_LIMIT_AUTHENTICATED: '10000',
      BOT_PORT_RANGE_START: String(botPortStart),
      BOT_PORT_RANGE_END: String(botPortStart + 199),
      COLLECTOR_INTERVAL_SECONDS: '2',
      LOG_LEVEL: 'INFO',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: false,
  })
  child.stdout?.pipe(log)
  child.stderr?.pipe(log)
  const baseUrl = `http://127.0.0.1:${port}`
  await waitForHealth(baseUrl, child, 120_000)
  project.provide('baseUrl', baseUrl)

  return async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM')
      await new Promise<void>((done) => {
        const timer = setTimeout(() => {
          child.kill('SIGKILL')
          done()
        }, 30_000)
        child.once('exit', () => {
          clearTimeout(timer)
          done()
        })
      })
    }
    await stopProcesses(processesUsing(dataDir))
    rmSync(dataDir, { recursive: true, force: true })
  }
}
