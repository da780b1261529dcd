import type { FrontEnd } from './front-end.js'

export interface DrainResult {
  drained: boolean
  waitedMs: number
  leftSessions: number
}

/** Stop accepting everywhere, wait for sessions to end until `timeoutMs`, then close the rest. */
export async function drainFrontEnds(
  frontEnds: readonly FrontEnd[],
  timeoutMs: number,
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  now: () => number = Date.now,
): Promise<DrainResult> {
  const start = now()
  await Promise.all(frontEnds.map((f) => f.stopAccepting()))
  const open = (): number => frontEnds.reduce((n, f) => n + f.activeSessions(), 0)
  while (open() > 0 && now() - start < timeoutMs) await sleep(Math.min(50, timeoutMs))
  const leftSessions = open()
  if (leftSessions > 0) {
    await Promise.all(frontEnds.map((f) => f.closeAll(`grey: shutting down; the drain timeout of ${timeoutMs} ms ran out`)))
  }
  return { drained: leftSessions === 0, waitedMs: now() - start, leftSessions }
}
