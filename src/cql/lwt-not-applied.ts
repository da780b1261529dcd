import { decodeResponse } from './protocol/decode-response.js'
import { CqlOpcode, type FrameHeader } from './protocol/frame-header.js'

/**
 * Whether the answer to a conditional write (INSERT … IF NOT EXISTS, UPDATE … IF, a conditional BATCH) says it was not
 * applied: a concurrent write won the Paxos round or the condition failed. Its result rows start with the boolean
 * column `[applied]`, with or without metadata; anything else (an error, a void result) is not a lost conflict.
 */
export function lwtNotApplied(response: { readonly header: FrameHeader; readonly body: Buffer }): boolean {
  if (response.header.opcode !== CqlOpcode.Result) return false
  let decoded: ReturnType<typeof decodeResponse>['message']
  try {
    decoded = decodeResponse(response.header, response.body).message
  } catch {
    return false
  }
  if (decoded.type !== 'RESULT' || decoded.kind !== 'Rows') return false
  const applied = decoded.rows[0]?.[0]
  return applied !== undefined && applied !== null && applied.length === 1 && applied[0] === 0
}
