// Raft storage on a real disk: the record format, the log file's recovery from a torn or corrupted tail, hard state
// replaced atomically, snapshots and compaction, and the directory lock.
import t from 'tap'
import { mkdtempSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import zlib from 'node:zlib'
import { crc32, tableCrc32 } from '../../src/consensus/crc32.js'
import { encodeRecord, readRecord, RECORD_HEADER_BYTES } from '../../src/consensus/log-record.js'
import { LogFile } from '../../src/consensus/log-file.js'
import { RaftStorage } from '../../src/consensus/raft-storage.js'
import { readRecordFile, writeRecordFile } from '../../src/consensus/atomic-file.js'
import {
  decodeHardState,
  decodeLogEntry,
  decodeSnapshot,
  encodeHardState,
  encodeLogEntry,
  encodeSnapshot,
} from '../../src/consensus/raft-storage-codec.js'
import type { LogEntry, Snapshot } from '../../src/consensus/raft-message.js'

const dir = (): string => mkdtempSync(join(tmpdir(), 'grey-raft-storage-'))
const entry = (index: number, term: number, text = `e${index}`): LogEntry => ({
  index,
  term,
  kind: 'command',
  data: new TextEncoder().encode(text),
})
const noReady = { snapshotToPersist: null, snapshotToApply: null, entriesToPersist: [], hardState: null }
const flip = (bytes: Buffer, at: number): void => void bytes.writeUInt8(bytes.readUInt8(at) ^ 0xff, at)
const texts = (entries: readonly LogEntry[]): string[] => entries.map((e) => `${e.index}/${e.term}:${Buffer.from(e.data).toString()}`)

t.test('crc32 is the IEEE CRC-32 that zlib computes', (t) => {
  for (const text of ['', 'a', '123456789', 'grey raft log record'.repeat(50)]) {
    const bytes = Buffer.from(text)
    t.equal(tableCrc32(bytes), zlib.crc32(bytes), `table: ${text.slice(0, 12)}`)
    t.equal(crc32(bytes), zlib.crc32(bytes))
  }
  t.equal(tableCrc32(Buffer.from('123456789')), 0xcbf43926, 'the standard check value')
  t.end()
})

t.test('records: [length][crc][payload], and every way a tail can be damaged', (t) => {
  const record = encodeRecord(Buffer.from('hello'))
  t.equal(record.toString('hex'), `00000005${zlib.crc32(Buffer.from('hello')).toString(16).padStart(8, '0')}68656c6c6f`)
  const two = Buffer.concat([record, encodeRecord(Buffer.from('!'))])
  const first = readRecord(two, 0)
  t.same(first.kind === 'record' && [first.payload.toString(), first.end], ['hello', 13])
  t.same(readRecord(two, 13).kind, 'record')
  t.same(readRecord(two, two.length), { kind: 'end' })
  t.match(readRecord(two.subarray(0, 15), 13), { kind: 'damaged', reason: /header cut short \(2 of 8/ })
  t.match(readRecord(record.subarray(0, 10), 0), { kind: 'damaged', reason: /cut short \(2 of 5 payload bytes\)/ })
  const flipped = Buffer.from(record)
  flip(flipped, RECORD_HEADER_BYTES)
  t.match(readRecord(flipped, 0), { kind: 'damaged', reason: 'a CRC mismatch' })
  t.match(readRecord(Buffer.alloc(64), 0), { kind: 'damaged', reason: /impossible record length 0/ }, 'zeros are not records')
  const huge = Buffer.alloc(16)
  huge.writeUInt32BE(0xffffffff, 0)
  t.match(readRecord(huge, 0), { kind: 'damaged', reason: /impossible record length/ })
  t.throws(() => encodeRecord(new Uint8Array(0)), /1 to/)
  t.end()
})

t.test('codecs round-trip and refuse what they did not write', (t) => {
  const e: LogEntry = { index: 2 ** 40, term: 7, kind: 'conf-change', data: Uint8Array.of(1, 2, 3) }
  t.same(decodeLogEntry(encodeLogEntry(e)), e)
  t.throws(() => decodeLogEntry(Buffer.alloc(3)), /not a log entry/)
  t.throws(() => decodeLogEntry(Buffer.alloc(17, 9)), /kind byte 9/)
  const snapshot: Snapshot = { index: 9, term: 3, config: { voters: [1, 2], learners: [5] }, data: Uint8Array.of(42) }
  t.same(decodeSnapshot(encodeSnapshot({ snapshot, replacesLog: true })), { snapshot, replacesLog: true })
  t.throws(() => decodeSnapshot(Buffer.alloc(2)), /not a snapshot/)
  t.throws(() => decodeSnapshot(Buffer.concat([Buffer.from([0, 0, 0, 2]), Buffer.from('{}')])), /not a snapshot header/)
  t.same(decodeHardState(encodeHardState({ term: 4, vote: 2, commit: 10 })), { term: 4, vote: 2, commit: 10 })
  t.same(decodeHardState(encodeHardState({ term: 4, vote: null, commit: 0 })), { term: 4, vote: null, commit: 0 })
  t.throws(() => decodeHardState(Buffer.from('{"term":-1,"vote":null,"commit":0}')), /not a hard state/)
  t.throws(() => decodeHardState(Buffer.from('{"term":1,"vote":0,"commit":0}')), /not a hard state/)
  t.end()
})

t.test('log file: appends survive a reopen; a conflicting suffix is cut off; gaps are refused', async (t) => {
  const path = join(dir(), 'raft.log')
  const { file, entries, recovery } = await LogFile.open(path)
  t.same([entries, recovery, file.base, file.lastIndex], [[], null, 1, 0])
  await file.append([entry(1, 1), entry(2, 1), entry(3, 1)])
  await file.append([])
  await file.append([entry(2, 2, 'new'), entry(3, 2)])
  await t.rejects(file.append([entry(5, 2)]), /cannot append entry 5 to .* which holds 1\.\.3/)
  await file.close()
  const again = await LogFile.open(path)
  t.same(texts(again.entries), ['1/1:e1', '2/2:new', '3/2:e3'])
  t.equal(again.recovery, null)
  await again.file.close()
})

t.test('log file: a torn last record is cut off and appends go on after the last whole one', async (t) => {
  const path = join(dir(), 'raft.log')
  const { file } = await LogFile.open(path)
  await file.append([entry(1, 1), entry(2, 1), entry(3, 1, 'the last one, torn')])
  await file.close()
  const size = statSync(path).size
  truncateSync(path, size - 5)
  const torn = await LogFile.open(path)
  t.same(texts(torn.entries), ['1/1:e1', '2/1:e2'])
  t.match(torn.recovery, { reason: /cut short/, droppedBytes: RECORD_HEADER_BYTES + 17 + 18 - 5 })
  t.equal(statSync(path).size, torn.recovery?.offset, 'the file was truncated to the last whole record')
  await torn.file.append([entry(3, 2)])
  await torn.file.close()
  const after = await LogFile.open(path)
  t.same(texts(after.entries), ['1/1:e1', '2/1:e2', '3/2:e3'])
  t.equal(after.recovery, null)
  await after.file.close()
})

t.test('log file: a record whose CRC fails ends the log there, with what follows it', async (t) => {
  const path = join(dir(), 'raft.log')
  const { file } = await LogFile.open(path)
  await file.append([entry(1, 1), entry(2, 1), entry(3, 1)])
  await file.close()
  const bytes = readFileSync(path)
  const secondRecord = 16 + RECORD_HEADER_BYTES + 17 + 2
  flip(bytes, secondRecord + RECORD_HEADER_BYTES + 18)
  writeFileSync(path, bytes)
  const opened = await LogFile.open(path)
  t.same(texts(opened.entries), ['1/1:e1'])
  t.match(opened.recovery, { reason: 'a CRC mismatch', offset: secondRecord })
  await opened.file.close()

  const lastOnly = join(dir(), 'raft.log')
  const f = (await LogFile.open(lastOnly)).file
  await f.append([entry(1, 1), entry(2, 1)])
  await f.close()
  const b = readFileSync(lastOnly)
  flip(b, b.length - 1)
  writeFileSync(lastOnly, b)
  const reopened = await LogFile.open(lastOnly)
  t.same(texts(reopened.entries), ['1/1:e1'], 'a corrupted last record is dropped')
  await reopened.file.close()
})

t.test('log file: records that pass the CRC but are not the next entry are damage too', async (t) => {
  const path = join(dir(), 'raft.log')
  const { file } = await LogFile.open(path)
  await file.append([entry(1, 1)])
  await file.close()
  writeFileSync(path, Buffer.concat([readFileSync(path), encodeRecord(encodeLogEntry(entry(7, 1)))]))
  const skipped = await LogFile.open(path)
  t.match(skipped.recovery, { reason: 'entry 7 where 2 was expected' })
  await skipped.file.close()
  writeFileSync(path, Buffer.concat([readFileSync(path), encodeRecord(Buffer.from('xx'))]))
  const garbage = await LogFile.open(path)
  t.match(garbage.recovery, { reason: /not an entry/ })
  t.same(texts(garbage.entries), ['1/1:e1'])
  await garbage.file.close()
  writeFileSync(path, 'not a log')
  await t.rejects(LogFile.open(path), /not a Grey raft log/)
  await t.rejects(LogFile.open(join(path, 'under-a-file')), /ENOTDIR/)
})

t.test('log file: compaction and reset rewrite the file from a new first index', async (t) => {
  const path = join(dir(), 'raft.log')
  const { file } = await LogFile.open(path)
  await file.append([1, 2, 3, 4, 5].map((i) => entry(i, 1)))
  await file.compact(1)
  t.equal(file.base, 1, 'nothing before the first entry to drop')
  await file.compact(4)
  t.same([file.base, file.lastIndex], [4, 5])
  await file.append([entry(5, 2), entry(6, 2)])
  await file.close()
  const compacted = await LogFile.open(path)
  t.same(texts(compacted.entries), ['4/1:e4', '5/2:e5', '6/2:e6'])
  await compacted.file.compact(9)
  t.same([compacted.file.base, compacted.file.lastIndex], [9, 8], 'compacting past the end leaves it empty')
  await compacted.file.reset(20)
  await compacted.file.append([entry(20, 3)])
  await compacted.file.close()
  const reset = await LogFile.open(path)
  t.same(texts(reset.entries), ['20/3:e20'])
  await reset.file.close()
})

t.test('storage: a Ready persisted is what the next start reads back', async (t) => {
  const d = dir()
  const first = await RaftStorage.open(d)
  t.same(first.stored, { hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, entries: [] })
  t.same(first.recovery, { log: null, commitLoweredFrom: null })
  await first.storage.persist({ ...noReady, entriesToPersist: [entry(1, 1), entry(2, 1)], hardState: { term: 1, vote: 2, commit: 1 } })
  await first.storage.persist(noReady)
  t.ok(first.storage.logBytes > 16)
  await first.storage.close()
  await first.storage.close()
  const second = await RaftStorage.open(d)
  t.same(second.stored.hardState, { term: 1, vote: 2, commit: 1 })
  t.same(texts(second.stored.entries), ['1/1:e1', '2/1:e2'])
  await second.storage.close()
})

t.test('storage: the hard state is replaced atomically; a crash mid-write leaves the old one', async (t) => {
  const d = dir()
  const { storage } = await RaftStorage.open(d)
  await storage.persist({ ...noReady, hardState: { term: 3, vote: 1, commit: 0 } })
  await storage.close()
  // A crash after writing the temporary file, before the rename: the half-written new state must not count.
  writeFileSync(join(d, 'hardstate.tmp'), encodeRecord(encodeHardState({ term: 9, vote: 2, commit: 0 })).subarray(0, 11))
  const reopened = await RaftStorage.open(d)
  t.same(reopened.stored.hardState, { term: 3, vote: 1, commit: 0 })
  await reopened.storage.persist({ ...noReady, hardState: { term: 4, vote: null, commit: 0 } })
  await reopened.storage.close()
  t.same(decodeHardState((await readRecordFile(join(d, 'hardstate'))) as Buffer), { term: 4, vote: null, commit: 0 })
  // Renamed into place whole, so damage there is not a torn write: refuse to guess.
  const bytes = readFileSync(join(d, 'hardstate'))
  writeFileSync(join(d, 'hardstate'), bytes.subarray(0, bytes.length - 1))
  await t.rejects(RaftStorage.open(d), /hardstate is damaged \(a record cut short/)
  writeFileSync(join(d, 'hardstate'), Buffer.concat([bytes, Buffer.from('x')]))
  await t.rejects(RaftStorage.open(d), /bytes after the record/)
  writeFileSync(join(d, 'hardstate'), '')
  await t.rejects(RaftStorage.open(d), /an empty file/)
  await t.rejects(readRecordFile(d), /EISDIR/, 'errors other than a missing file are not hidden')
  await writeRecordFile(join(d, 'hardstate'), encodeHardState({ term: 4, vote: null, commit: 0 }))
  const fine = await RaftStorage.open(d)
  await fine.storage.close()
})

t.test('storage: a commit index past the surviving entries is lowered to the last of them', async (t) => {
  const d = dir()
  const { storage } = await RaftStorage.open(d)
  await storage.persist({
    ...noReady,
    entriesToPersist: [entry(1, 1), entry(2, 1), entry(3, 1)],
    hardState: { term: 1, vote: 1, commit: 3 },
  })
  await storage.close()
  truncateSync(join(d, 'raft.log'), statSync(join(d, 'raft.log')).size - 1)
  const reopened = await RaftStorage.open(d)
  t.same(reopened.stored.hardState.commit, 2)
  t.same(reopened.recovery.commitLoweredFrom, 3)
  t.match(reopened.recovery.log, { reason: /cut short/ })
  await reopened.storage.close()
})

t.test('storage: a local snapshot compacts the log; a leader snapshot replaces it', async (t) => {
  const d = dir()
  const { storage } = await RaftStorage.open(d)
  await storage.persist({ ...noReady, entriesToPersist: [1, 2, 3, 4].map((i) => entry(i, 1)), hardState: { term: 1, vote: 1, commit: 4 } })
  const local: Snapshot = { index: 2, term: 1, config: { voters: [1, 2, 3], learners: [] }, data: Buffer.from('state@2') }
  await storage.persist({ ...noReady, snapshotToPersist: local, entriesToPersist: [entry(5, 1)] })
  await storage.close()
  const compacted = await RaftStorage.open(d)
  t.same(compacted.stored.snapshot, local)
  t.same(texts(compacted.stored.entries), ['3/1:e3', '4/1:e4', '5/1:e5'])
  const fromLeader: Snapshot = { index: 10, term: 4, config: { voters: [1, 2, 3], learners: [4] }, data: Buffer.from('state@10') }
  await compacted.storage.persist({
    ...noReady,
    snapshotToPersist: fromLeader,
    snapshotToApply: fromLeader,
    hardState: { term: 4, vote: null, commit: 10 },
  })
  await compacted.storage.persist({ ...noReady, entriesToPersist: [entry(11, 4)] })
  await compacted.storage.close()
  const replaced = await RaftStorage.open(d)
  t.same(replaced.stored.snapshot, fromLeader)
  t.same(texts(replaced.stored.entries), ['11/4:e11'])
  t.same(replaced.stored.hardState, { term: 4, vote: null, commit: 10 })
  await replaced.storage.close()
})

t.test('storage: a crash between saving a snapshot and rewriting the log is finished at start-up', async (t) => {
  const d = dir()
  const { storage } = await RaftStorage.open(d)
  await storage.persist({ ...noReady, entriesToPersist: [1, 2, 3].map((i) => entry(i, 1)), hardState: { term: 1, vote: 1, commit: 1 } })
  await storage.close()
  const fromLeader: Snapshot = { index: 5, term: 2, config: { voters: [1], learners: [] }, data: Buffer.from('s') }
  await writeRecordFile(join(d, 'snapshot'), encodeSnapshot({ snapshot: fromLeader, replacesLog: true }))
  const leaderCase = await RaftStorage.open(d)
  t.same(leaderCase.stored.entries, [], 'the old, divergent log is not used with a leader snapshot')
  t.equal(leaderCase.stored.snapshot?.index, 5)
  await leaderCase.storage.persist({ ...noReady, entriesToPersist: [entry(6, 2)] })
  await leaderCase.storage.close()

  const d2 = dir()
  const s2 = (await RaftStorage.open(d2)).storage
  await s2.persist({ ...noReady, entriesToPersist: [1, 2, 3].map((i) => entry(i, 1)), hardState: { term: 1, vote: 1, commit: 3 } })
  await s2.close()
  const local: Snapshot = { index: 2, term: 1, config: { voters: [1], learners: [] }, data: Buffer.from('s') }
  await writeRecordFile(join(d2, 'snapshot'), encodeSnapshot({ snapshot: local, replacesLog: false }))
  const localCase = await RaftStorage.open(d2)
  t.same(texts(localCase.stored.entries), ['3/1:e3'], 'entries the snapshot covers are dropped, the rest kept')
  await localCase.storage.close()
  const again = await RaftStorage.open(d2)
  t.same(texts(again.stored.entries), ['3/1:e3'])
  await again.storage.close()

  const d3 = dir()
  const s3 = (await RaftStorage.open(d3)).storage
  await s3.persist({ ...noReady, snapshotToPersist: local })
  await s3.close()
  await writeRecordFile(join(d3, 'snapshot'), encodeSnapshot({ snapshot: { ...local, index: 1 }, replacesLog: false }))
  await t.rejects(RaftStorage.open(d3), /starts at entry 3 but the snapshot ends at 1/)
})

t.test('storage: one owner per directory', async (t) => {
  const d = dir()
  const { storage } = await RaftStorage.open(d)
  await t.rejects(RaftStorage.open(d), new RegExp(`in use by process ${process.pid}`))
  await storage.close()
  writeFileSync(join(d, 'LOCK'), '1\n')
  await t.rejects(RaftStorage.open(d), /in use by process 1; give each Grey its own consensus.raft.data_dir/)
  writeFileSync(join(d, 'LOCK'), '999999999\n')
  const stale = await RaftStorage.open(d)
  await stale.storage.close()
  writeFileSync(join(d, 'LOCK'), `${process.pid}\n`)
  const ours = await RaftStorage.open(d)
  await ours.storage.close()
})
