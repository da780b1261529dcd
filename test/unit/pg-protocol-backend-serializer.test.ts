import t from 'tap'
import { hex } from '../fixtures/hex-dump.js'
import * as backend from '../../src/pg/protocol/backend-serializer.js'

const cases: [string, () => Buffer, string][] = [
  ['AuthenticationOk', () => backend.authenticationOk(), '52 00000008 00000000'],
  ['AuthenticationCleartextPassword', () => backend.authenticationCleartextPassword(), '52 00000008 00000003'],
  ['AuthenticationMD5Password', () => backend.authenticationMD5Password(Buffer.from([1, 2, 3, 4])), '52 0000000c 00000005 01020304'],
  ['AuthenticationSASL, one mechanism', () => backend.authenticationSASL(['SCRAM-SHA-256']), `52 00000017 0000000a 'SCRAM-SHA-256' 00 00`],
  [
    'AuthenticationSASL, with channel binding',
    () => backend.authenticationSASL(['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256']),
    `52 0000002a 0000000a 'SCRAM-SHA-256-PLUS' 00 'SCRAM-SHA-256' 00 00 # empty name ends the list`,
  ],
  ['AuthenticationSASLContinue', () => backend.authenticationSASLContinue('r=ab'), `52 0000000c 0000000b 'r=ab'`],
  ['AuthenticationSASLFinal', () => backend.authenticationSASLFinal(Buffer.from('v=xy')), `52 0000000c 0000000c 'v=xy'`],
  ['ParameterStatus', () => backend.parameterStatus('TimeZone', 'UTC'), `53 00000011 'TimeZone' 00 'UTC' 00`],
  ['BackendKeyData, unsigned key', () => backend.backendKeyData(12345, 0xdeadbeef), '4b 0000000c 00003039 deadbeef'],
  ['BackendKeyData, signed key', () => backend.backendKeyData(12345, -559038737), '4b 0000000c 00003039 deadbeef'],
  ['BackendKeyData, 32-byte key (3.2)', () => backend.backendKeyData(7, Buffer.alloc(32, 0xab)), `4b 00000028 00000007 ${'ab'.repeat(32)}`],
  ['ReadyForQuery idle', () => backend.readyForQuery('I'), `5a 00000005 'I'`],
  ['ReadyForQuery in transaction', () => backend.readyForQuery('T'), `5a 00000005 'T'`],
  ['ReadyForQuery failed transaction', () => backend.readyForQuery('E'), `5a 00000005 'E'`],
  [
    'ErrorResponse: V repeats S when not given',
    () => backend.errorResponse({ severity: 'FATAL', code: '08P01', message: 'bad' }),
    `45 0000001f 'S' 'FATAL' 00 'V' 'FATAL' 00 'C' '08P01' 00 'M' 'bad' 00 00`,
  ],
  [
    'NoticeResponse: fields in PostgreSQL order',
    () =>
      backend.noticeResponse({
        position: '7',
        hint: 'h',
        message: 'm',
        code: '01000',
        severityNonLocalized: 'WARNING',
        severity: 'WARNUNG',
      }),
    `4e 00000027 'S' 'WARNUNG' 00 'V' 'WARNING' 00 'C' '01000' 00 'M' 'm' 00 'H' 'h' 00 'P' '7' 00 00`,
  ],
  ['CommandComplete', () => backend.commandComplete('SELECT 1'), `43 0000000d 'SELECT 1' 00`],
  ['EmptyQueryResponse', () => backend.emptyQueryResponse(), '49 00000004'],
  [
    'RowDescription with defaults',
    () => backend.rowDescription([{ name: 'a', typeOid: 23, typeSize: 4 }]),
    `54 0000001a 0001 'a' 00 00000000 0000 00000017 0004 ffffffff 0000`,
  ],
  [
    'DataRow: text, NULL, bytes, UTF-8',
    () => backend.dataRow(['1', null, Buffer.from([0xff]), 'é']),
    `44 0000001a 0004 00000001 '1' ffffffff 00000001 ff 00000002 c3a9`,
  ],
  ['ParseComplete', () => backend.parseComplete(), '31 00000004'],
  ['BindComplete', () => backend.bindComplete(), '32 00000004'],
  ['CloseComplete', () => backend.closeComplete(), '33 00000004'],
  ['NoData', () => backend.noData(), '6e 00000004'],
  ['PortalSuspended', () => backend.portalSuspended(), '73 00000004'],
  ['ParameterDescription, unsigned OID', () => backend.parameterDescription([23, 3000000000]), '74 0000000e 0002 00000017 b2d05e00'],
  ['CopyInResponse', () => backend.copyInResponse(0, [0, 0]), '47 0000000b 00 0002 0000 0000'],
  ['CopyOutResponse', () => backend.copyOutResponse(1, [1]), '48 00000009 01 0001 0001'],
  ['NegotiateProtocolVersion', () => backend.negotiateProtocolVersion(0, ['_pq_.foo']), `76 00000015 00000000 00000001 '_pq_.foo' 00`],
  ['NegotiateProtocolVersion, no options', () => backend.negotiateProtocolVersion(0, []), '76 0000000c 00000000 00000000'],
  ['SSL accepted', () => backend.sslResponse(true), `'S'`],
  ['SSL (or GSS encryption) refused', () => backend.sslResponse(false), `'N'`],
]

t.test('each backend message, byte for byte', async (t) => {
  for (const [name, build, dump] of cases) t.same(build(), hex(dump), name)
})

t.test('messages without variable parts are built once', async (t) => {
  t.equal(backend.readyForQuery('I'), backend.readyForQuery('I'))
  t.equal(backend.parseComplete(), backend.parseComplete())
  t.not(backend.commandComplete('SELECT 1'), backend.commandComplete('SELECT 1'), 'variable ones are fresh buffers')
})

t.test('a variable message owns its bytes', async (t) => {
  const first = backend.commandComplete('BEGIN')
  backend.commandComplete('COMMIT')
  t.same(first, hex(`43 0000000a 'BEGIN' 00`), 'the scratch writer was reused without touching the first result')
})

t.test('programming errors are thrown and leave the serializer usable', async (t) => {
  t.throws(() => backend.authenticationMD5Password(Buffer.alloc(3)), new RangeError('an MD5 salt is 4 bytes, not 3'))
  t.throws(() => backend.errorResponse({ severity: 'ERROR', code: 'XX000', message: 'a\0b' }), /cannot contain a NUL byte/)
  t.same(backend.commandComplete('SELECT 1'), hex(`43 0000000d 'SELECT 1' 00`), 'no half-written message leaks into the next one')
})

t.test('large rows grow the scratch writer', async (t) => {
  const value = 'x'.repeat(100_000)
  const row = backend.dataRow([value, value])
  t.equal(row.length, 1 + 4 + 2 + 2 * (4 + 100_000))
  t.equal(row.readInt32BE(1), row.length - 1)
  t.same(backend.dataRow([]), hex('44 00000006 0000'))
})
