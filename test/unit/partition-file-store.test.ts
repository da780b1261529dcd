// The file store on a real file system: what is appended survives a reopen, removals leave, a torn last line (a crash
// mid-append, never acknowledged) is cut off, an emptied queue empties its file, dead letters are kept beside it.
import t from 'tap'
import { appendFileSync, chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FileQueueStore } from '../../src/partition/file-queue-store.js'
import type { QueuedWrite } from '../../src/partition/queued-write.js'

const write = (n: number): QueuedWrite => ({
  id: `grey-t-${n}`,
  hlc: n.toString(16).padStart(16, '0'),
  protocol: 'pg',
  region: 'us-east',
  user: 'grey',
  database: 'app',
  sql: `INSERT INTO t VALUES (${n})`,
  mode: 'simple',
  paramTypes: [],
  params: [],
  settings: [],
  queuedAt: '2026-11-22T11:00:00.000Z',
})

t.test('appends survive a reopen; removed writes do not come back', async (t) => {
  const dir = join(mkdtempSync(join(tmpdir(), 'grey-queue-')), 'q')
  const store = new FileQueueStore(dir)
  t.equal(await store.open(), null)
  await Promise.all([1, 2, 3].map((n) => store.append(write(n))))
  await store.remove('grey-t-2')
  await store.remove('grey-t-404')
  await store.close()
  const again = new FileQueueStore(dir)
  t.equal(await again.open(), null)
  t.same(
    again.entries().map((w) => w.id),
    ['grey-t-1', 'grey-t-3'],
  )
  await again.deadLetter(write(1), '23505: duplicate key')
  await again.remove('grey-t-3')
  t.equal(readFileSync(again.path, 'utf8'), '', 'an empty queue leaves an empty file')
  t.match(JSON.parse(readFileSync(again.deadLetterPath, 'utf8')), { write: { id: 'grey-t-1' }, reason: '23505: duplicate key' })
  await again.close()
  await t.rejects(again.append(write(4)), /not open/)
})

t.test('a torn last line is cut off; a bad line in the middle is skipped and named', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'grey-queue-'))
  const path = join(dir, 'queue.jsonl')
  writeFileSync(path, `${JSON.stringify(write(1))}\nnot json\n${JSON.stringify(write(2))}\n{"id":"grey-t-3","hl`)
  const store = new FileQueueStore(dir)
  t.equal(await store.open(), null)
  t.same(
    store.entries().map((w) => w.id),
    ['grey-t-1', 'grey-t-2'],
  )
  t.match(store.skipped, [/not JSON/])
  await store.append(write(4))
  await store.close()
  t.notMatch(readFileSync(path, 'utf8'), /"hl\{/, 'the next append starts on a line of its own')
  const again = new FileQueueStore(dir)
  await again.open()
  t.same(
    again.entries().map((w) => w.id),
    ['grey-t-1', 'grey-t-2', 'grey-t-4'],
  )
  await again.close()
})

t.test('a file of finished writes is emptied at open', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'grey-queue-'))
  const path = join(dir, 'queue.jsonl')
  writeFileSync(path, `${JSON.stringify(write(1))}\n`)
  appendFileSync(path, `${JSON.stringify({ done: 'grey-t-1' })}\n`)
  const store = new FileQueueStore(dir)
  t.equal(await store.open(), null)
  t.same(store.entries(), [])
  t.equal(readFileSync(path, 'utf8'), '')
  await store.close()
})

t.test('a directory that cannot be used is a sentence naming the fix', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'grey-queue-'))
  writeFileSync(join(dir, 'file'), '')
  t.match(await new FileQueueStore(join(dir, 'file', 'q')).open(), /cannot be used .*set partition.queue.dir to a writable directory/)
  const unreadable = mkdtempSync(join(tmpdir(), 'grey-queue-'))
  writeFileSync(join(unreadable, 'queue.jsonl'), '')
  chmodSync(join(unreadable, 'queue.jsonl'), 0)
  const store = new FileQueueStore(unreadable)
  const problem = await store.open()
  // root reads any file: then it opens.
  if (process.getuid?.() === 0) t.equal(problem, null)
  else t.match(problem, /EACCES/)
  await store.close()
})
