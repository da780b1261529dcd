import { readFileSync } from 'node:fs'

/** Resident set size of a process in MiB, from the VmRSS line of /proc/<pid>/status. */
export function nodeMemoryRssMb(pid: number): number {
  let status: string
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8')
  } catch {
    throw new Error(`grey lab: process ${pid} is not running; cannot read its memory use`)
  }
  const kb = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status)?.[1]
  if (kb === undefined) throw new Error(`grey lab: /proc/${pid}/status has no VmRSS line (a zombie or kernel thread?)`)
  return Math.round(Number(kb) / 1024)
}
