// Deterministic simulation of 3- and 5-voter Raft clusters (test/fixtures/raft/raft-simulation.ts). Each seed
// decides everything: pre-vote/check-quorum/flow-control settings, message loss, duplication and reordering,
// symmetric, asymmetric and flapping partitions, crashes (some mid-write, losing the unacknowledged tail),
// restarts from the persisted state, clock jumps, proposals, ReadIndex and lease reads, membership changes and
// compactions. After every Ready it checks election safety, log matching, leader completeness, state-machine
// safety and read linearizability; after the heal, liveness (a leader within 3 election timeouts that commits
// what it proposes). Odd seeds run 3 voters, even seeds 5.
//
//   GREY_RAFT_SEEDS=100000 npx tap test/unit/raft-simulation.test.ts   soak: seeds 1..100000 (default 4000)
//   GREY_RAFT_SEED=1234 npx tap test/unit/raft-simulation.test.ts      replay one seed and print its trace
import t from 'tap'
import { runRaftSimulation, type SimulationReport } from '../fixtures/raft/raft-simulation.js'

const DEFAULT_SEEDS = 4000
const TRACE_LINES = 400

const replaySeed = process.env.GREY_RAFT_SEED === undefined ? null : Number(process.env.GREY_RAFT_SEED)
const seedCount = Number(process.env.GREY_RAFT_SEEDS ?? DEFAULT_SEEDS)

function replayCommand(seed: number): string {
  return `GREY_RAFT_SEED=${seed} npx tap test/unit/raft-simulation.test.ts`
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0
}

function summarize(reports: SimulationReport[], elapsedMs: number): string {
  const sum = (pick: (s: SimulationReport['stats']) => number) => reports.reduce((n, r) => n + pick(r.stats), 0)
  const healed = reports.filter((r) => r.failure === null)
  return [
    `${reports.length} seeds in ${(elapsedMs / 1000).toFixed(1)} s: ${sum((s) => s.messagesSent)} messages, ` +
      `${sum((s) => s.leaderChanges)} elections won, ${sum((s) => s.applied)} entries applied, ${sum((s) => s.checks)} invariant checks`,
    `faults: ${sum((s) => s.crashes)} crashes (${sum((s) => s.tornWrites)} torn writes), ${sum((s) => s.restarts)} restarts; ` +
      `${sum((s) => s.snapshotsInstalled)} snapshots installed, ${sum((s) => s.confChangesApplied)} conf changes applied, ` +
      `${sum((s) => s.readsServed)} ReadIndex and ${sum((s) => s.leaseReadsServed)} lease reads checked, ` +
      `${sum((s) => s.transfersStarted)} leadership transfers started`,
    `after the heal, ticks to a leader p50/p99/max: ${[0.5, 0.99, 1]
      .map((p) =>
        percentile(
          healed.map((r) => r.stats.healToLeaderTicks),
          p,
        ),
      )
      .join('/')}` +
      `, then to its commit: ${[0.5, 0.99, 1]
        .map((p) =>
          percentile(
            healed.map((r) => r.stats.leaderToCommitTicks),
            p,
          ),
        )
        .join('/')}`,
  ].join('\n')
}

if (replaySeed !== null) {
  t.test(`seed ${replaySeed}`, (t) => {
    const report = runRaftSimulation({ seed: replaySeed, trace: true })
    t.comment(`parameters: ${JSON.stringify(report.parameters)}`)
    t.comment(`last ${TRACE_LINES} events:\n${report.trace.slice(-TRACE_LINES).join('\n')}`)
    t.equal(report.failure, null, `seed ${replaySeed} ended at round ${report.round}`)
    t.end()
  })
} else {
  for (const voters of [3, 5]) {
    t.test(`${voters} voters, seeds 1..${seedCount}`, (t) => {
      const started = performance.now()
      const reports: SimulationReport[] = []
      for (let seed = voters === 3 ? 1 : 2; seed <= seedCount; seed += 2) {
        const report = runRaftSimulation({ seed })
        reports.push(report)
        if (report.failure !== null) t.fail(`seed ${seed} (round ${report.round}): ${report.failure}\n  replay: ${replayCommand(seed)}`)
      }
      t.comment(summarize(reports, performance.now() - started))
      t.ok(
        reports.every((r) => r.failure === null),
        `${reports.length} seeds without a violation`,
      )
      t.end()
    })
  }

  t.test('a seed replays exactly', (t) => {
    const first = runRaftSimulation({ seed: 4242, trace: true })
    const second = runRaftSimulation({ seed: 4242, trace: true })
    t.same(second.stats, first.stats)
    t.same(second.trace, first.trace)
    t.ok(first.trace.length > 1000, 'the trace records the run')
    t.end()
  })
}
