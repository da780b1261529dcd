import t from 'tap'
import { drainFrontEnds } from '../../src/cli/drain.js'
import type { FrontEnd } from '../../src/cli/front-end.js'

/** A front end whose sessions end at given times: the drain logic's input, driven by a fake clock. */
function frontEnd(name: string, sessionEndsAtMs: number[], clock: { now: number }): FrontEnd & { events: string[] } {
  const events: string[] = []
  return {
    name,
    address: null,
    events,
    start: async () => undefined,
    stopAccepting: async () => {
      events.push(`stop@${clock.now}`)
    },
    activeSessions: () => sessionEndsAtMs.filter((end) => end > clock.now).length,
    closeAll: async (reason: string) => {
      events.push(`close@${clock.now}: ${reason}`)
    },
  }
}

t.test('drain waits for sessions to end, without closing anything', async (t) => {
  const clock = { now: 0 }
  const pg = frontEnd('pg', [120, 300], clock)
  const cql = frontEnd('cql', [80], clock)
  const result = await drainFrontEnds(
    [pg, cql],
    1000,
    async (ms) => void (clock.now += ms),
    () => clock.now,
  )
  t.same(result, { drained: true, waitedMs: 300, leftSessions: 0 })
  t.same(pg.events, ['stop@0'])
  t.same(cql.events, ['stop@0'])
})

t.test('drain stops at the timeout and closes what is left, saying why', async (t) => {
  const clock = { now: 0 }
  const pg = frontEnd('pg', [100, 5000], clock)
  const result = await drainFrontEnds(
    [pg],
    1000,
    async (ms) => void (clock.now += ms),
    () => clock.now,
  )
  t.equal(result.drained, false)
  t.equal(result.leftSessions, 1)
  t.equal(result.waitedMs, 1000)
  t.same(pg.events, ['stop@0', 'close@1000: grey: shutting down; the drain timeout of 1000 ms ran out'])
})

t.test('drain with no sessions returns at once', async (t) => {
  const clock = { now: 0 }
  const result = await drainFrontEnds(
    [frontEnd('pg', [], clock)],
    1000,
    async (ms) => void (clock.now += ms),
    () => clock.now,
  )
  t.same(result, { drained: true, waitedMs: 0, leftSessions: 0 })
})
