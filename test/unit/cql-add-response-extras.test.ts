import t from 'tap'
import { addResponseExtras } from '../../src/cql/protocol/add-response-extras.js'
import { decodeResponse } from '../../src/cql/protocol/decode-response.js'
import { encodeResponse } from '../../src/cql/protocol/encode-response.js'
import { decodeFrameHeader, FRAME_HEADER_LENGTH } from '../../src/cql/protocol/frame-header.js'
import type { ResponseMessage } from '../../src/cql/protocol/response-messages.js'

const decode = (frame: Buffer) => {
  const header = decodeFrameHeader(frame)
  t.equal(frame.length, FRAME_HEADER_LENGTH + header.bodyLength, 'the length field covers the new body')
  return { header, ...decodeResponse(header, frame.subarray(FRAME_HEADER_LENGTH)) }
}
const keyspace: ResponseMessage = { type: 'RESULT', kind: 'Set_keyspace', keyspace: 'grey_lab' }
const tracingId = Buffer.alloc(16, 7)

t.test('warnings and payload entries join what the node sent; the message is unchanged', async () => {
  const original = encodeResponse(keyspace, 12, {
    tracingId,
    warnings: ['from cassandra'],
    customPayload: new Map([
      ['theirs', Buffer.from('1')],
      ['grey.token', Buffer.from('old')],
    ]),
  })
  const out = addResponseExtras(decodeFrameHeader(original), original, {
    warnings: ['grey: stale read: x'],
    customPayload: new Map([['grey.token', Buffer.from('new')]]),
  })
  const d = decode(out)
  t.equal(d.header.stream, 12)
  t.same(Buffer.from(d.tracingId!), tracingId)
  t.same(d.warnings, ['from cassandra', 'grey: stale read: x'])
  t.same(
    [...d.customPayload!].map(([k, v]) => [k, v?.toString()]),
    [
      ['theirs', '1'],
      ['grey.token', 'new'],
    ],
    "Grey's entry wins",
  )
  t.same(d.message, keyspace)
})

t.test('a plain response gains only the flags it needs', async () => {
  const original = encodeResponse(keyspace, 3)
  const payloadOnly = decode(
    addResponseExtras(decodeFrameHeader(original), original, { customPayload: new Map([['k', Buffer.from('v')]]) }),
  )
  t.equal(payloadOnly.header.flags, 0x04)
  t.equal(payloadOnly.warnings, undefined)
  t.same(payloadOnly.message, keyspace)
  const warningOnly = decode(addResponseExtras(decodeFrameHeader(original), original, { warnings: ['w'] }))
  t.equal(warningOnly.header.flags, 0x08)
  t.same(warningOnly.warnings, ['w'])
})

t.test('nothing to add, or a v3 connection: the same frame', async () => {
  const v4 = encodeResponse(keyspace, 3)
  t.equal(addResponseExtras(decodeFrameHeader(v4), v4, {}), v4)
  t.equal(addResponseExtras(decodeFrameHeader(v4), v4, { warnings: [], customPayload: new Map() }), v4)
  const v3 = encodeResponse(keyspace, 3, { version: 3 })
  t.equal(addResponseExtras(decodeFrameHeader(v3), v3, { warnings: ['w'] }), v3, 'v3 has no warnings to carry them')
})
