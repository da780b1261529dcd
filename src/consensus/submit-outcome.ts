// How a proposal ended, as the leader reports it to the member that forwarded it and as the admin API reports it.
import type { NodeId } from './raft-message.js'

export type SubmitOutcome =
  /** Committed and applied at `index`; `error` when the state machine refused the command (it changed nothing). */
  | { readonly status: 'applied'; readonly index: number; readonly error: string | null }
  /** Not appended to the log, and never will be: say why. */
  | { readonly status: 'refused'; readonly error: string }
  /** The member asked is not the leader; `leaderId` is where to go, null while there is none. */
  | { readonly status: 'not-leader'; readonly leaderId: NodeId | null }
  /** No leader could be reached in time: nothing was proposed (`error` says what this member sees). */
  | { readonly status: 'unavailable'; readonly error: string }
  /** No answer in time: the entry may still commit, or may not. */
  | { readonly status: 'unknown'; readonly error: string }
