import { spawn } from 'node:child_process'
import { closeSync, openSync, readFileSync } from 'node:fs'

export interface DetachedOptions {
  logPath: string
  cwd?: string
  env?: NodeJS.ProcessEnv
  uid?: number
  gid?: number
}

/** Starts a process that outlives the lab command; its output goes to `logPath`. */
export function spawnDetached(command: string, args: string[], options: DetachedOptions): number {
  const out = openSync(options.logPath, 'a')
  try {
    const child = spawn(command, args, {
      detached: true,
      stdio: ['ignore', out, out],
      cwd: options.cwd,
      env: options.env ?? process.env,
      uid: options.uid,
      gid: options.gid,
    })
    if (child.pid === undefined) throw new Error(`could not start ${command}`)
    child.unref()
    return child.pid
  } finally {
    closeSync(out)
  }
}

/** The process's command line, or null when there is no such process. */
export function processCommandLine(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ')
  } catch {
    return null
  }
}

/** Running: it exists and is neither a zombie nor dead (where PID 1 does not reap, a stopped child lingers as Z). */
export function isLiveProcess(pid: number): boolean {
  let stat: string
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch {
    return false
  }
  // "pid (comm) state …": comm may hold spaces and parentheses, so the state follows the last ')'.
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
  return state !== '' && state !== 'Z' && state !== 'X'
}

/** Alive and still the process we started: its command line names `marker` (its own dir). */
export function isOurProcess(pid: number, marker: string): boolean {
  const cmdline = processCommandLine(pid)
  return cmdline !== null && cmdline.includes(marker) && isLiveProcess(pid)
}

export function residentMb(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m?.[1] ? Math.round(Number(m[1]) / 1024) : null
  } catch {
    return null
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** Signals the process and waits for it to go; SIGKILL after `graceMs`. */
export async function stopProcess(pid: number, marker: string, graceMs = 10_000, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!isOurProcess(pid, marker)) return
  try {
    process.kill(pid, signal)
  } catch {
    return
  }
  const deadline = Date.now() + graceMs
  while (Date.now() < deadline) {
    if (!isOurProcess(pid, marker)) return
    await sleep(50)
  }
  try {
    process.kill(pid, 'SIGKILL')
  } catch {
    return
  }
  while (isOurProcess(pid, marker)) await sleep(50)
}

export async function waitFor<T>(what: string, probe: () => Promise<T | null>, timeoutMs: number, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let lastError: unknown = null
  while (Date.now() < deadline) {
    try {
      const v = await probe()
      if (v !== null) return v
    } catch (err) {
      lastError = err
    }
    await sleep(intervalMs)
  }
  const reason = lastError instanceof Error ? `: ${lastError.message}` : ''
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${reason}`)
}
