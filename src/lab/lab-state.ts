import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { isOurProcess } from './lab-process.js'

export type ComponentKind = 'wan' | 'pg' | 'redis' | 'cassandra' | 'grey'
export const COMPONENT_KINDS: readonly ComponentKind[] = ['wan', 'pg', 'redis', 'cassandra', 'grey']

export interface ComponentRecord {
  /** `KIND:REGION`, or `wan` for the WAN emulator. */
  name: string
  kind: ComponentKind
  region: string | null
  pid: number
  /** A string the process's command line contains: tells our process from a reused pid. */
  marker: string
  startedAt: string
  startMs: number
  log: string
  /** Set by `grey lab kill`: down on purpose, not crashed. */
  killed: boolean
}

export type ComponentStatus = 'running' | 'killed' | 'crashed'

export interface LabState {
  components: Record<string, ComponentRecord>
}

export const statePath = (dir: string): string => join(dir, 'state.json')

export function readLabState(dir: string): LabState {
  const path = statePath(dir)
  if (!existsSync(path)) return { components: {} }
  return JSON.parse(readFileSync(path, 'utf8')) as LabState
}

export function writeLabState(dir: string, state: LabState): void {
  writeFileSync(statePath(dir), `${JSON.stringify(state, null, 2)}\n`)
}

export function componentStatus(record: ComponentRecord): ComponentStatus {
  if (isOurProcess(record.pid, record.marker)) return 'running'
  return record.killed ? 'killed' : 'crashed'
}
