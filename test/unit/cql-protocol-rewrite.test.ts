import t from 'tap'
import fc from 'fast-check'
import assert from 'node:assert/strict'
import { parameterChange, requestMessage, rewritableRequest, stream } from '../fixtures/cql-arbitraries.js'
import { hex } from '../fixtures/hex-dump.js'
import { decodeRequest } from '../../src/cql/protocol/decode-request.js'
import { encodeRequest } from '../../src/cql/protocol/encode-request.js'
import { encodeFrame, type FrameHeader } from '../../src/cql/protocol/frame-header.js'
import { FrameSplitter } from '../../src/cql/protocol/frame-splitter.js'
import type { DecodedRequest } from '../../src/cql/protocol/request-messages.js'
import {
  rewriteFrameQueryParameters,
  rewriteQueryParameters,
  type ParameterChange,
} from '../../src/cql/protocol/rewrite-query-parameters.js'

type Rewritable = Extract<DecodedRequest, { offsets: unknown }>

/** Through the splitter, so that a dump's declared length is checked. */
function decodeFrame(bytes: Buffer): { header: FrameHeader; body: Buffer; message: Rewritable } {
  const splitter = new FrameSplitter()
  splitter.push(bytes)
  const frame = splitter.next()
  if (frame?.type !== 'frame' || splitter.pendingBytes !== 0) throw new Error('not one whole frame')
  const { header, body } = frame
  const message = decodeRequest(header, body)
  if (!('offsets' in message)) throw new Error(`${message.type} cannot be rewritten`)
  return { header, body, message }
}

/** Both ways: the body rewritten and framed again, and the frame rewritten in one go, which must agree. */
function rewriteFrame(frame: Buffer, change: ParameterChange): Buffer {
  const { header, body, message } = decodeFrame(frame)
  const viaBody = encodeFrame(header, rewriteQueryParameters(body, message.offsets, change))
  const whole = rewriteFrameQueryParameters(frame, message.offsets, change)
  if (!whole.equals(viaBody)) throw new Error(`rewriteFrameQueryParameters gave ${whole.toString('hex')}`)
  return whole
}

const cases: { name: string; dump: string; change: ParameterChange; expected: string }[] = [
  {
    name: 'a QUERY gets a timestamp after its serial consistency',
    dump: `04 00 0001 07 0000000a 00000001 'Q' 0001 10 0008`,
    change: { timestamp: 0x0006_0000_0000_0001n },
    expected: `04 00 0001 07 00000012 00000001 'Q' 0001 30 0008 0006000000000001`,
  },
  {
    name: 'a driver’s own timestamp is overwritten in place',
    dump: `04 00 0001 07 00000010 00000001 'Q' 0001 20 0005f0a1b2c3d4e5`,
    change: { timestamp: 1n },
    expected: `04 00 0001 07 00000010 00000001 'Q' 0001 20 0000000000000001`,
  },
  {
    name: 'a consistency is replaced',
    dump: `04 00 0001 07 00000008 00000001 'Q' 0001 00 # ONE`,
    change: { consistency: 6 },
    expected: `04 00 0001 07 00000008 00000001 'Q' 0006 00 # LOCAL_QUORUM`,
  },
  {
    name: 'an EXECUTE with a custom payload gets both',
    dump: `04 04 0002 0a 00000012 0001 0001 'p' ffffffff 0002 cafe 0001 01 0000`,
    change: { consistency: 4, timestamp: 2n },
    expected: `04 04 0002 0a 0000001a 0001 0001 'p' ffffffff 0002 cafe 0004 21 0000 0000000000000002`,
  },
  {
    name: 'a BATCH gets a timestamp at its end',
    dump: `04 00 0003 0d 0000000f 00 0001 01 0002 beef 0000 0001 10 0009`,
    change: { timestamp: 3n, consistency: 10 },
    expected: `04 00 0003 0d 00000017 00 0001 01 0002 beef 0000 000a 30 0009 0000000000000003`,
  },
  {
    name: 'nothing to change is a copy',
    dump: `04 00 0001 07 00000008 00000001 'Q' 0001 00`,
    change: {},
    expected: `04 00 0001 07 00000008 00000001 'Q' 0001 00`,
  },
]

for (const { name, dump, change, expected } of cases) {
  t.test(name, async (t) => {
    const original = hex(dump)
    const before = Buffer.from(original)
    t.equal(rewriteFrame(original, change).toString('hex'), hex(expected).toString('hex'))
    t.same(original, before, 'the frame it was given is not modified')
  })
}

t.test('refuses changes that do not fit the protocol', async (t) => {
  const { body, message } = decodeFrame(hex(`04 00 0001 07 00000008 00000001 'Q' 0001 00`))
  t.throws(() => rewriteQueryParameters(body, message.offsets, { consistency: 11 }), /11 is not a consistency level/)
  t.throws(() => rewriteQueryParameters(body, message.offsets, { timestamp: -1n }), /non-negative \[long\] of microseconds, not -1/)
  t.throws(() => rewriteQueryParameters(body, message.offsets, { timestamp: 2n ** 63n }), RangeError)
  t.throws(
    () => rewriteQueryParameters(body.subarray(0, 7), message.offsets, { timestamp: 1n }),
    /parameter offsets \{"consistency":5,"flags":7,"timestamp":8\} do not fit a body of 7 bytes/,
  )
  t.throws(
    () => rewriteFrameQueryParameters(body, message.offsets, { timestamp: 1n }),
    /do not fit a body of -1 bytes/,
    'a body is not a frame',
  )
})

// Properties: a rewrite decodes to the same request but for what it changed, and the offsets still hold.

function expectedAfter(message: Rewritable, { consistency, timestamp }: ParameterChange): Rewritable {
  if (message.type === 'BATCH') {
    return { ...message, ...(consistency !== undefined ? { consistency } : {}), ...(timestamp !== undefined ? { timestamp } : {}) }
  }
  const parameters = {
    ...message.parameters,
    ...(consistency !== undefined ? { consistency } : {}),
    ...(timestamp !== undefined ? { timestamp } : {}),
  }
  return { ...message, parameters }
}

t.test('a rewritten body decodes to the same request but for the rewritten fields', async (t) => {
  fc.assert(
    fc.property(rewritableRequest, parameterChange, stream, (request, change, streamId) => {
      const frame = encodeRequest(request, streamId)
      const { header, body, message } = decodeFrame(frame)
      const rewritten = rewriteQueryParameters(body, message.offsets, change)
      assert.deepStrictEqual(rewriteFrameQueryParameters(frame, message.offsets, change), encodeFrame(header, rewritten))
      const inserted = change.timestamp !== undefined && (message.type === 'BATCH' ? message : message.parameters).timestamp === undefined
      assert.equal(rewritten.length, body.length + (inserted ? 8 : 0))
      assert.deepStrictEqual(decodeRequest(header, rewritten), expectedAfter(message, change))
    }),
    { numRuns: 500 },
  )
  t.pass('500 random QUERY, EXECUTE and BATCH frames')
})

t.test('encodeRequest and decodeRequest agree on every request', async (t) => {
  fc.assert(
    fc.property(requestMessage, stream, (request, streamId) => {
      const splitter = new FrameSplitter()
      splitter.push(encodeRequest(request, streamId))
      const frame = splitter.next()
      assert.ok(frame?.type === 'frame' && frame.header.stream === streamId)
      const { offsets: _offsets, ...decoded } = decodeRequest(frame.header, frame.body) as Rewritable
      assert.deepStrictEqual(decoded, request)
    }),
    { numRuns: 500 },
  )
  t.pass('500 random requests')
})
