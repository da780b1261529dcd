// The Raft core counts ticks; the config speaks milliseconds. A tick of about 25 ms keeps the election timeout's
// randomisation (electionTicks to 2 * electionTicks) fine-grained at the seed card's 500 ms / 150 ms.
const TARGET_TICK_MS = 25

export interface RaftTiming {
  readonly tickMs: number
  readonly electionTicks: number
  readonly heartbeatTicks: number
}

/** Ticks such that heartbeatTicks * tickMs = heartbeat interval and electionTicks * tickMs ≈ election timeout. */
export function raftTiming(electionTimeoutMs: number, heartbeatIntervalMs: number): RaftTiming {
  const heartbeatTicks = Math.max(1, Math.round(heartbeatIntervalMs / TARGET_TICK_MS))
  const tickMs = heartbeatIntervalMs / heartbeatTicks
  // The core needs at least 3 election ticks and a heartbeat inside the election timeout.
  const electionTicks = Math.max(heartbeatTicks + 1, 3, Math.round(electionTimeoutMs / tickMs))
  return { tickMs, electionTicks, heartbeatTicks }
}
