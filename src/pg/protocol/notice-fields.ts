/**
 * The fields of ErrorResponse and NoticeResponse ("Error and Notice Message Fields" in the protocol docs). Values are
 * strings on the wire, positions and line numbers included.
 */
export interface NoticeFields {
  /** S: ERROR, FATAL, PANIC, or WARNING, NOTICE, DEBUG, INFO, LOG; possibly localized. */
  severity: string
  /** V: the same, never localized (PostgreSQL 9.6+). The serializer repeats `severity` when it is absent. */
  severityNonLocalized?: string
  /** C: the SQLSTATE. */
  code: string
  /** M: the primary message, one line. */
  message: string
  /** D */
  detail?: string
  /** H */
  hint?: string
  /** P: 1-based character index into the query string. */
  position?: string
  /** p */
  internalPosition?: string
  /** q */
  internalQuery?: string
  /** W */
  where?: string
  /** s */
  schema?: string
  /** t */
  table?: string
  /** c */
  column?: string
  /** d */
  dataType?: string
  /** n */
  constraint?: string
  /** F */
  file?: string
  /** L */
  line?: string
  /** R */
  routine?: string
}

/** Field codes in the order PostgreSQL writes them (send_message_to_frontend in elog.c). */
export const NOTICE_FIELD_CODES: readonly (readonly [keyof NoticeFields, number])[] = [
  ['severity', 0x53], // S
  ['severityNonLocalized', 0x56], // V
  ['code', 0x43], // C
  ['message', 0x4d], // M
  ['detail', 0x44], // D
  ['hint', 0x48], // H
  ['position', 0x50], // P
  ['internalPosition', 0x70], // p
  ['internalQuery', 0x71], // q
  ['where', 0x57], // W
  ['schema', 0x73], // s
  ['table', 0x74], // t
  ['column', 0x63], // c
  ['dataType', 0x64], // d
  ['constraint', 0x6e], // n
  ['file', 0x46], // F
  ['line', 0x4c], // L
  ['routine', 0x52], // R
]
