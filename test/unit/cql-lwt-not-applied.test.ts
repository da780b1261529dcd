import t from 'tap'
import { lwtNotApplied } from '../../src/cql/lwt-not-applied.js'
import { encodeResponse } from '../../src/cql/protocol/encode-response.js'
import { decodeFrameHeader, FRAME_HEADER_LENGTH } from '../../src/cql/protocol/frame-header.js'
import type { ResponseMessage } from '../../src/cql/protocol/response-messages.js'

/** A response frame as the session holds it: header and body. */
function frame(
  message: ResponseMessage,
  options: { skipMetadata?: boolean } = {},
): { header: ReturnType<typeof decodeFrameHeader>; body: Buffer } {
  let m = message
  if (options.skipMetadata && m.type === 'RESULT' && m.kind === 'Rows') m = { ...m, metadata: { columnCount: m.metadata.columnCount } }
  const bytes = encodeResponse(m, 7)
  return { header: decodeFrameHeader(bytes), body: bytes.subarray(FRAME_HEADER_LENGTH) }
}

const applied = (value: number, extraColumns = 0): ResponseMessage => ({
  type: 'RESULT',
  kind: 'Rows',
  metadata: {
    columnCount: 1 + extraColumns,
    columns: [
      { keyspace: 'ks', table: 't', name: '[applied]', type: { kind: 'boolean' } },
      ...Array.from({ length: extraColumns }, (_, i) => ({ keyspace: 'ks', table: 't', name: `c${i}`, type: { kind: 'int' as const } })),
    ],
  },
  rows: [[Buffer.from([value]), ...Array.from({ length: extraColumns }, () => Buffer.from([0, 0, 0, 1]))]],
})

t.test('a conditional write that was not applied', async (t) => {
  t.equal(lwtNotApplied(frame(applied(0))), true, '[applied] false')
  t.equal(lwtNotApplied(frame(applied(0, 2))), true, '[applied] false with the existing row beside it')
  t.equal(lwtNotApplied(frame(applied(0), { skipMetadata: true })), true, 'without result metadata')
})

t.test('anything else is not a lost conflict', async (t) => {
  t.equal(lwtNotApplied(frame(applied(1))), false, '[applied] true')
  t.equal(lwtNotApplied(frame({ type: 'RESULT', kind: 'Void' })), false, 'a void result')
  t.equal(
    lwtNotApplied(
      frame({
        type: 'RESULT',
        kind: 'Rows',
        metadata: { columnCount: 1, columns: [{ keyspace: 'ks', table: 't', name: '[applied]', type: { kind: 'boolean' } }] },
        rows: [],
      }),
    ),
    false,
    'no rows',
  )
  t.equal(lwtNotApplied(frame({ type: 'ERROR', code: 0x2200, message: 'bad query' })), false, 'an error')
  const broken = frame(applied(0))
  t.equal(lwtNotApplied({ header: broken.header, body: broken.body.subarray(0, 6) }), false, 'a body that does not decode')
})
