// Cross-validation with node-postgres' pg-protocol, an independent implementation of the same wire format: what its
// client serializer writes, our FrontendParser must read; what our backend serializer writes, its Parser must read;
// and on a realistic backend stream our BackendScanner must find the frames its Parser finds.
import t from 'tap'
import fc from 'fast-check'
import { serialize } from 'pg-protocol/dist/serializer'
import { Parser } from 'pg-protocol/dist/parser'
import type { BackendMessage } from 'pg-protocol/dist/messages'
import * as backend from '../../src/pg/protocol/backend-serializer.js'
import {
  BackendScanner,
  commandCompleteTag,
  parseAuthenticationRequest,
  parseBackendKeyData,
  parseNoticeFields,
  parseParameterStatus,
  readyForQueryStatus,
  type BackendFrame,
} from '../../src/pg/protocol/backend-scanner.js'
import { BackendMessageType } from '../../src/pg/protocol/backend-message-type.js'
import { FrontendParser } from '../../src/pg/protocol/frontend-parser.js'
import { parsePasswordMessage, parseSaslInitialResponse, type FrontendMessage } from '../../src/pg/protocol/frontend-messages.js'
import type { NoticeFields } from '../../src/pg/protocol/notice-fields.js'

function readAll(parser: FrontendParser, bytes: Buffer): FrontendMessage[] {
  parser.push(bytes)
  const messages: FrontendMessage[] = []
  for (let message = parser.read(); message !== undefined; message = parser.read()) messages.push(message)
  return messages
}

function nodePostgresParse(bytes: Buffer): BackendMessage[] {
  const messages: BackendMessage[] = []
  new Parser().parse(bytes, (message) => messages.push(message))
  return messages
}

const text = (s: string) => Buffer.from(s)

t.test('startup-phase packets from pg-protocol serialize', async (t) => {
  const cases: [string, Buffer, object][] = [
    ['requestSsl', serialize.requestSsl(), { type: 'SSLRequest' }],
    ['cancel', serialize.cancel(4242, 0x12345678), { type: 'CancelRequest', processId: 4242, secretKey: Buffer.from('12345678', 'hex') }],
    [
      'startup',
      serialize.startup({ user: 'alice', database: 'shop', application_name: 'checkout', options: '-c grey.consistency=eventual' }),
      {
        type: 'StartupMessage',
        majorVersion: 3,
        minorVersion: 0,
        parameters: new Map([
          ['user', 'alice'],
          ['database', 'shop'],
          ['application_name', 'checkout'],
          ['options', '-c grey.consistency=eventual'],
          ['client_encoding', 'UTF8'],
        ]),
      },
    ],
  ]
  for (const [name, bytes, expected] of cases) {
    const messages = readAll(new FrontendParser(), bytes)
    t.equal(messages.length, 1, `${name}: one packet`)
    t.same(messages[0], { ...expected, raw: bytes }, name)
  }
})

t.test('regular messages from pg-protocol serialize', async (t) => {
  const cases: [string, Buffer, object][] = [
    [
      'query',
      serialize.query('SELECT 1 /* grey: consistency=strong */'),
      { type: 'Query', query: 'SELECT 1 /* grey: consistency=strong */' },
    ],
    [
      'parse, named',
      serialize.parse({ name: 's1', text: 'SELECT $1::int, $2', types: [23, 25] }),
      { type: 'Parse', name: 's1', query: 'SELECT $1::int, $2', paramTypes: [23, 25] },
    ],
    ['parse, unnamed', serialize.parse({ text: 'SELECT 1' }), { type: 'Parse', name: '', query: 'SELECT 1', paramTypes: [] }],
    [
      'bind with text, NULL and binary values',
      serialize.bind({ portal: 'p1', statement: 's1', values: ['abc', null, Buffer.from([1, 2])], binary: true }),
      {
        type: 'Bind',
        portal: 'p1',
        statement: 's1',
        paramFormats: [0, 0, 1],
        params: [text('abc'), null, Buffer.from([1, 2])],
        resultFormats: [1],
      },
    ],
    ['bind, defaults', serialize.bind(), { type: 'Bind', portal: '', statement: '', paramFormats: [], params: [], resultFormats: [0] }],
    ['execute, defaults', serialize.execute(), { type: 'Execute', portal: '', maxRows: 0 }],
    ['execute with rows', serialize.execute({ portal: 'p1', rows: 100 }), { type: 'Execute', portal: 'p1', maxRows: 100 }],
    ['describe statement', serialize.describe({ type: 'S', name: 's1' }), { type: 'Describe', kind: 'S', name: 's1' }],
    ['describe unnamed portal', serialize.describe({ type: 'P' }), { type: 'Describe', kind: 'P', name: '' }],
    ['close statement', serialize.close({ type: 'S', name: 's1' }), { type: 'Close', kind: 'S', name: 's1' }],
    ['close unnamed portal', serialize.close({ type: 'P' }), { type: 'Close', kind: 'P', name: '' }],
    ['sync', serialize.sync(), { type: 'Sync' }],
    ['flush', serialize.flush(), { type: 'Flush' }],
    ['end', serialize.end(), { type: 'Terminate' }],
    ['copyData', serialize.copyData(text('1\tone\n2\ttwo\n')), { type: 'CopyData', data: text('1\tone\n2\ttwo\n') }],
    ['copyDone', serialize.copyDone(), { type: 'CopyDone' }],
    ['copyFail', serialize.copyFail('client gave up'), { type: 'CopyFail', message: 'client gave up' }],
    [
      'password',
      serialize.password('md53175bce1d3201d16594cebf9d7eb3f9d'),
      { type: 'AuthenticationResponse', data: text('md53175bce1d3201d16594cebf9d7eb3f9d\0') },
    ],
    [
      'sendSASLInitialResponseMessage',
      serialize.sendSASLInitialResponseMessage('SCRAM-SHA-256', 'n,,n=*,r=fyko+d2lbbFgONRv9qkxdawL'),
      // mechanism, NUL, Int32 length of the client-first-message (33 bytes), the message
      {
        type: 'AuthenticationResponse',
        data: Buffer.concat([text('SCRAM-SHA-256\0'), Buffer.from([0, 0, 0, 33]), text('n,,n=*,r=fyko+d2lbbFgONRv9qkxdawL')]),
      },
    ],
    [
      'sendSCRAMClientFinalMessage',
      serialize.sendSCRAMClientFinalMessage('c=biws,r=abc,p=xyz'),
      { type: 'AuthenticationResponse', data: text('c=biws,r=abc,p=xyz') },
    ],
  ]
  for (const [name, bytes, expected] of cases) {
    const copy = Buffer.from(bytes) // pg-protocol shares some buffers between calls
    const messages = readAll(new FrontendParser({ phase: 'regular' }), copy)
    t.equal(messages.length, 1, `${name}: one message`)
    t.same(messages[0], { ...expected, raw: copy }, name)
  }

  const [password] = readAll(new FrontendParser({ phase: 'regular' }), serialize.password('hunter2'))
  t.equal(password?.type === 'AuthenticationResponse' && parsePasswordMessage(password.data), 'hunter2')
  const [initial] = readAll(
    new FrontendParser({ phase: 'regular' }),
    serialize.sendSASLInitialResponseMessage('SCRAM-SHA-256', 'n,,n=*,r=abc'),
  )
  t.same(initial?.type === 'AuthenticationResponse' && parseSaslInitialResponse(initial.data), {
    mechanism: 'SCRAM-SHA-256',
    data: text('n,,n=*,r=abc'),
  })
})

t.test('a whole node-postgres session as one stream, split everywhere', async (t) => {
  const stream = Buffer.concat([
    serialize.requestSsl(),
    serialize.startup({ user: 'alice', database: 'shop' }),
    serialize.sendSASLInitialResponseMessage('SCRAM-SHA-256', 'n,,n=*,r=abc'),
    serialize.sendSCRAMClientFinalMessage('c=biws,r=abcdef,p=proof'),
    serialize.parse({ name: 'get_user', text: 'SELECT * FROM users WHERE id = $1', types: [20] }),
    serialize.bind({ statement: 'get_user', values: ['42'] }),
    serialize.describe({ type: 'P' }),
    serialize.execute(),
    serialize.sync(),
    serialize.query('BEGIN; UPDATE accounts SET balance = balance - 1 WHERE id = 7; COMMIT'),
    serialize.query('COPY t FROM STDIN'),
    serialize.copyData(text('1\n2\n3\n')),
    serialize.copyDone(),
    serialize.end(),
  ])
  const reference = readAll(new FrontendParser(), stream)
  t.same(
    reference.map((m) => m.type),
    [
      'SSLRequest',
      'StartupMessage',
      'AuthenticationResponse',
      'AuthenticationResponse',
      'Parse',
      'Bind',
      'Describe',
      'Execute',
      'Sync',
      'Query',
      'Query',
      'CopyData',
      'CopyDone',
      'Terminate',
    ],
  )
  for (let at = 0; at <= stream.length; at++) {
    const parser = new FrontendParser()
    const messages = [...readAll(parser, stream.subarray(0, at)), ...readAll(parser, stream.subarray(at))]
    if (!t.same(messages, reference, `split at ${at}`)) break
  }
})

const allFields: NoticeFields = {
  severity: 'ERROR',
  code: '23505',
  message: 'duplicate key value violates unique constraint "users_pkey"',
  detail: 'Key (id)=(1) already exists.',
  hint: 'Pick another id.',
  position: '15',
  internalPosition: '3',
  internalQuery: 'SELECT 1',
  where: 'PL/pgSQL function f() line 3',
  schema: 'public',
  table: 'users',
  column: 'id',
  dataType: 'int4',
  constraint: 'users_pkey',
  file: 'nbtinsert.c',
  line: '666',
  routine: '_bt_check_unique',
}

t.test('backend messages from our serializer, parsed by pg-protocol', async (t) => {
  const salt = Buffer.from([1, 2, 3, 4])
  const cases: [string, Buffer, object][] = [
    ['authenticationOk', backend.authenticationOk(), { name: 'authenticationOk', length: 8 }],
    ['authenticationCleartextPassword', backend.authenticationCleartextPassword(), { name: 'authenticationCleartextPassword' }],
    ['authenticationMD5Password', backend.authenticationMD5Password(salt), { name: 'authenticationMD5Password', salt }],
    [
      'authenticationSASL',
      backend.authenticationSASL(['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256']),
      { name: 'authenticationSASL', mechanisms: ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256'] },
    ],
    [
      'authenticationSASLContinue',
      backend.authenticationSASLContinue('r=abc,s=c2FsdA==,i=4096'),
      { name: 'authenticationSASLContinue', data: 'r=abc,s=c2FsdA==,i=4096' },
    ],
    [
      'authenticationSASLFinal',
      backend.authenticationSASLFinal(text('v=c2lnbmF0dXJl')),
      { name: 'authenticationSASLFinal', data: 'v=c2lnbmF0dXJl' },
    ],
    [
      'parameterStatus',
      backend.parameterStatus('server_version', '16.3 (grey)'),
      { name: 'parameterStatus', parameterName: 'server_version', parameterValue: '16.3 (grey)' },
    ],
    ['backendKeyData', backend.backendKeyData(4242, 0x7eadbeef), { name: 'backendKeyData', processID: 4242, secretKey: 0x7eadbeef }],
    ['readyForQuery I', backend.readyForQuery('I'), { name: 'readyForQuery', status: 'I' }],
    ['readyForQuery T', backend.readyForQuery('T'), { name: 'readyForQuery', status: 'T' }],
    ['readyForQuery E', backend.readyForQuery('E'), { name: 'readyForQuery', status: 'E' }],
    ['errorResponse, every field', backend.errorResponse(allFields), { name: 'error', ...allFields }],
    [
      'noticeResponse, stale-read flag',
      backend.noticeResponse({ severity: 'WARNING', code: '01000', message: 'grey: read served by replica eu-west 7.2s behind' }),
      { name: 'notice', severity: 'WARNING', code: '01000', message: 'grey: read served by replica eu-west 7.2s behind' },
    ],
    ['commandComplete', backend.commandComplete('INSERT 0 1'), { name: 'commandComplete', text: 'INSERT 0 1' }],
    ['emptyQueryResponse', backend.emptyQueryResponse(), { name: 'emptyQuery' }],
    [
      'rowDescription',
      backend.rowDescription([
        { name: 'id', tableOid: 16384, columnAttr: 1, typeOid: 20, typeSize: 8, typeModifier: -1, format: 0 },
        { name: 'grey.token', typeOid: 25, typeSize: -1 },
        { name: 'blob', tableOid: 3000000000, columnAttr: 3, typeOid: 17, typeSize: -1, typeModifier: 12, format: 1 },
      ]),
      {
        name: 'rowDescription',
        fieldCount: 3,
        fields: [
          { name: 'id', tableID: 16384, columnID: 1, dataTypeID: 20, dataTypeSize: 8, dataTypeModifier: -1, format: 'text' },
          { name: 'grey.token', tableID: 0, columnID: 0, dataTypeID: 25, dataTypeSize: -1, dataTypeModifier: -1, format: 'text' },
          { name: 'blob', tableID: 3000000000, columnID: 3, dataTypeID: 17, dataTypeSize: -1, dataTypeModifier: 12, format: 'binary' },
        ],
      },
    ],
    ['dataRow', backend.dataRow([text('abc'), null, 'héllo', '']), { name: 'dataRow', fieldCount: 4, fields: ['abc', null, 'héllo', ''] }],
    ['dataRow, no columns', backend.dataRow([]), { name: 'dataRow', fieldCount: 0, fields: [] }],
    ['parseComplete', backend.parseComplete(), { name: 'parseComplete' }],
    ['bindComplete', backend.bindComplete(), { name: 'bindComplete' }],
    ['closeComplete', backend.closeComplete(), { name: 'closeComplete' }],
    ['noData', backend.noData(), { name: 'noData' }],
    ['portalSuspended', backend.portalSuspended(), { name: 'portalSuspended' }],
    [
      'parameterDescription',
      backend.parameterDescription([23, 25, 3000000000]),
      { name: 'parameterDescription', parameterCount: 3, dataTypeIDs: [23, 25, 3000000000] },
    ],
    ['copyInResponse', backend.copyInResponse(0, [0, 0]), { name: 'copyInResponse', binary: false, columnTypes: [0, 0] }],
    ['copyOutResponse', backend.copyOutResponse(1, [1, 1, 1]), { name: 'copyOutResponse', binary: true, columnTypes: [1, 1, 1] }],
  ]
  for (const [name, bytes, expected] of cases) {
    const messages = nodePostgresParse(bytes)
    t.equal(messages.length, 1, `${name}: one message`)
    t.match(messages[0], expected, name)
    t.equal(messages[0]?.length, bytes.length - 1, `${name}: length field`)
  }
})

/** A day in the life of a backend connection, as Grey sees it: startup, simple and extended queries, errors, COPY. */
function realisticBackendStream(): Buffer {
  const rows = Array.from({ length: 50 }, (_, i) => backend.dataRow([String(i), `user-${i}`, i % 7 === 0 ? null : `${i}@example.com`]))
  return Buffer.concat([
    backend.authenticationSASL(['SCRAM-SHA-256']),
    backend.authenticationSASLContinue('r=abc,s=c2FsdA==,i=4096'),
    backend.authenticationSASLFinal('v=c2lnbmF0dXJl'),
    backend.authenticationOk(),
    ...[
      'server_version',
      'server_encoding',
      'client_encoding',
      'DateStyle',
      'TimeZone',
      'integer_datetimes',
      'standard_conforming_strings',
    ].map((name) => backend.parameterStatus(name, `${name}-value`)),
    backend.backendKeyData(31337, 0x1badcafe),
    backend.readyForQuery('I'),
    backend.rowDescription([
      { name: 'id', tableOid: 16384, columnAttr: 1, typeOid: 23, typeSize: 4 },
      { name: 'name', tableOid: 16384, columnAttr: 2, typeOid: 25, typeSize: -1 },
      { name: 'email', tableOid: 16384, columnAttr: 3, typeOid: 25, typeSize: -1 },
    ]),
    ...rows,
    backend.commandComplete('SELECT 50'),
    backend.readyForQuery('I'),
    backend.parseComplete(),
    backend.bindComplete(),
    backend.noData(),
    backend.commandComplete('INSERT 0 1'),
    backend.readyForQuery('I'),
    backend.commandComplete('BEGIN'),
    backend.noticeResponse({ severity: 'NOTICE', code: '00000', message: 'relation "t" already exists, skipping' }),
    backend.commandComplete('CREATE TABLE'),
    backend.errorResponse(allFields),
    backend.readyForQuery('E'),
    backend.commandComplete('ROLLBACK'),
    backend.parameterStatus('application_name', 'checkout'),
    backend.readyForQuery('I'),
    backend.copyOutResponse(0, [0, 0]),
    ...Array.from({ length: 20 }, (_, i) =>
      Buffer.concat([Buffer.from([BackendMessageType.CopyData, 0, 0, 0, 4 + 6]), Buffer.from(`row${String(i).padStart(2, '0')}\n`)]),
    ),
    Buffer.from([BackendMessageType.CopyDone, 0, 0, 0, 4]),
    backend.commandComplete('COPY 20'),
    backend.readyForQuery('I'),
    backend.dataRow(['x'.repeat(200_000)]), // larger than the stream threshold: relayed in pieces when split
    backend.commandComplete('SELECT 1'),
    backend.emptyQueryResponse(),
    backend.portalSuspended(),
    backend.closeComplete(),
    backend.parameterDescription([23, 25]),
    backend.readyForQuery('T'),
  ])
}

interface Boundary {
  type: number
  offset: number
  length: number
}

/** Frame boundaries as absolute offsets in the stream, from whole frames and from the heads of streamed pieces. */
function scannerBoundaries(chunks: Buffer[], scanner = new BackendScanner()): Boundary[] {
  const boundaries: Boundary[] = []
  let position = 0
  for (const chunk of chunks) {
    scanner.push(chunk)
    for (let frame = scanner.next(); frame !== undefined; frame = scanner.next()) {
      if (frame.head) boundaries.push({ type: frame.type, offset: position, length: frame.frameLength })
      position += frame.length
    }
  }
  return boundaries
}

t.test('BackendScanner finds the frames pg-protocol finds', async (t) => {
  const stream = realisticBackendStream()
  const expected: Boundary[] = []
  let offset = 0
  for (const message of nodePostgresParse(stream)) {
    expected.push({ type: stream[offset]!, offset, length: message.length + 1 })
    offset += message.length + 1
  }
  t.equal(offset, stream.length, 'pg-protocol consumed the whole stream')
  t.equal(expected.length, 110)
  t.same(scannerBoundaries([stream]), expected, 'one chunk')

  for (const size of [1, 2, 3, 5, 7, 64, 1000, 1460, 16384, 65536]) {
    const chunks: Buffer[] = []
    for (let at = 0; at < stream.length; at += size) chunks.push(stream.subarray(at, at + size))
    t.same(scannerBoundaries(chunks), expected, `chunks of ${size} bytes`)
  }

  fc.assert(
    fc.property(fc.uniqueArray(fc.integer({ min: 1, max: stream.length - 1 }), { maxLength: 60 }), (cuts) => {
      const points = [0, ...cuts.sort((a, b) => a - b), stream.length]
      t.same(scannerBoundaries(points.slice(1).map((end, i) => stream.subarray(points[i], end))), expected)
    }),
    { numRuns: 200 },
  )
})

t.test('the decoders agree with pg-protocol on every frame they decode', async (t) => {
  const stream = realisticBackendStream()
  const scanner = new BackendScanner()
  scanner.push(stream)
  let decoded = 0
  for (let frame = scanner.next(); frame !== undefined; frame = scanner.next()) {
    const [theirs] = nodePostgresParse(Buffer.from(frame.buffer.subarray(frame.offset, frame.offset + frame.length)))
    const ours = decode(frame)
    if (ours === undefined) continue
    decoded++
    t.match(theirs, ours, `${String.fromCharCode(frame.type)} frame`)
  }
  t.equal(decoded, 29, 'R×4, S×8, K, Z×7, C×7, E, N')
})

/** Our decoders' view of a frame, phrased as pg-protocol's message, for the frames the proxy acts on. */
function decode(frame: BackendFrame): object | undefined {
  switch (frame.type) {
    case BackendMessageType.ReadyForQuery:
      return { name: 'readyForQuery', status: readyForQueryStatus(frame) }
    case BackendMessageType.CommandComplete:
      return { name: 'commandComplete', text: commandCompleteTag(frame) }
    case BackendMessageType.ParameterStatus: {
      const { name, value } = parseParameterStatus(frame)
      return { name: 'parameterStatus', parameterName: name, parameterValue: value }
    }
    case BackendMessageType.BackendKeyData: {
      const { processId, secretKey } = parseBackendKeyData(frame)
      return { name: 'backendKeyData', processID: processId, secretKey: secretKey.readInt32BE(0) }
    }
    case BackendMessageType.ErrorResponse:
    case BackendMessageType.NoticeResponse: {
      // pg-protocol does not keep V (the non-localized severity); everything else must match.
      const { severityNonLocalized, ...fields } = parseNoticeFields(frame)
      if (severityNonLocalized !== fields.severity) throw new Error('V differs from S')
      return { name: frame.type === BackendMessageType.ErrorResponse ? 'error' : 'notice', ...fields }
    }
    case BackendMessageType.Authentication: {
      const request = parseAuthenticationRequest(frame)
      switch (request.type) {
        case 'SASL':
          return { name: 'authenticationSASL', mechanisms: request.mechanisms }
        case 'SASLContinue':
          return { name: 'authenticationSASLContinue', data: request.data.toString() }
        case 'SASLFinal':
          return { name: 'authenticationSASLFinal', data: request.data.toString() }
        default:
          return { name: `authentication${request.type}` }
      }
    }
  }
  return undefined
}
