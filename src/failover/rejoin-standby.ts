// `grey cluster rejoin` / `grey lab rejoin`: an old primary comes back as a standby of the new one (ARCHITECTURE §8).
// Runs where the node's data directory is: stop it, rewind it to the new primary's timeline with pg_rewind, mark it a
// standby of the new primary, and leave the start to the caller. Its Grey then repoints it like any other standby.
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { sqlLiteral } from '../routing/sql-literal.js'

export interface RejoinOptions {
  /** The old primary's data directory. */
  readonly pgdata: string
  /**
   * How pg_rewind reaches the new primary: a superuser, or a role granted pg_rewind's functions and pg_checkpoint
   * (rejoin runs CHECKPOINT there first).
   */
  readonly sourceConninfo: string
  /** How the node, once a standby, streams from the new primary (a replication role). */
  readonly primaryConninfo: string
  /** The new primary's replication slot for this node, or null to stream without one. */
  readonly slot: string | null
  /** Runs a PostgreSQL program (pg_ctl, psql, pg_rewind) as the data directory's owner: its exit status and output. */
  readonly run: (program: string, args: readonly string[]) => { readonly status: number | null; readonly output: string }
}

/** Configuration files in the data directory that belong to the node, not to the primary it is rewound from. */
const OWN_CONFIG = ['postgresql.conf', 'pg_hba.conf', 'pg_ident.conf']

/** The steps taken, for the operator; throws with pg_rewind's or pg_ctl's own words when one fails. */
export function rejoinAsStandby(o: RejoinOptions): string[] {
  const done: string[] = []
  const must = (program: string, args: readonly string[], what: string): void => {
    const r = o.run(program, args)
    if (r.status !== 0) throw new Error(`grey: ${what} failed (${program} exit ${r.status ?? 'signal'}): ${r.output.trim()}`)
    done.push(what)
  }
  // pg_ctl status: 0 running, 3 not running (4: no data directory, which pg_rewind reports better).
  if (o.run('pg_ctl', ['status', '-D', o.pgdata]).status === 0)
    must('pg_ctl', ['stop', '-m', 'fast', '-w', '-D', o.pgdata], 'stopped the old primary')
  // pg_rewind copies the source's configuration files too (its port, its name): this node keeps its own.
  const own = OWN_CONFIG.filter((f) => existsSync(join(o.pgdata, f))).map((f) => [f, readFileSync(join(o.pgdata, f))] as const)
  // A just-promoted primary's control file still names the old timeline until its first checkpoint, and pg_rewind
  // reads the timeline from there: it would find both on the same one, say "no rewind required", and leave a node whose
  // WAL runs past the fork, which then cannot follow ("new timeline forked off … before current recovery point").
  must('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', o.sourceConninfo, '-c', 'CHECKPOINT'], 'checkpointed the new primary')
  must('pg_rewind', ['--target-pgdata', o.pgdata, '--source-server', o.sourceConninfo], 'rewound it to the new primary with pg_rewind')
  for (const [file, content] of own) writeFileSync(join(o.pgdata, file), content)
  // pg_rewind copied the new primary's postgresql.auto.conf; the lines below come last and win.
  writeFileSync(join(o.pgdata, 'standby.signal'), '')
  appendFileSync(
    join(o.pgdata, 'postgresql.auto.conf'),
    `# grey rejoin: a standby of the new primary\nprimary_conninfo = ${sqlLiteral(o.primaryConninfo)}\nprimary_slot_name = ${sqlLiteral(o.slot ?? '')}\n`,
  )
  done.push('marked it a standby of the new primary (standby.signal, primary_conninfo, primary_slot_name)')
  return done
}
