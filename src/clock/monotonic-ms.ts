// Durations, deadlines and leases are measured on the monotonic clock, never on the wall clock: an NTP step or a
// resumed VM moves the wall clock by seconds, and a lease measured on it would stretch (a step back keeps a cut-off
// region "in contact" after the majority may have promoted) or lapse at once (a step forward). The wall clock is for
// what crosses machines: HLC stamps, Cassandra write times, timestamps people read.
import { performance } from 'node:perf_hooks'

/**
 * Whole milliseconds on a clock that only moves forward, at the rate of real time; its zero is this process's start.
 * Whole, like Date.now(): durations derived from it go on the Raft wire, whose schema takes integers.
 */
export const monotonicMs = (): number => Math.floor(performance.now())
