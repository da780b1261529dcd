import { mkdir, open, readFile, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { decodeQueuedWrite, encodeQueuedWrite, type QueuedWrite } from './queued-write.js'
import type { DeadLetter, QueueStore } from './queue-store.js'

/**
 * The queue as an append-only file of JSON lines in `dir`: a queued write per line, and `{"done":"<id>"}` when it
 * leaves the queue; fdatasync before every answer. The file is emptied when nothing is left in it. Dead letters go to
 * dead-letter.jsonl beside it.
 */
export class FileQueueStore implements QueueStore {
  readonly kind = 'file'
  readonly path: string
  readonly deadLetterPath: string
  /** Lines of the file that were not queued writes, skipped at open (a torn last line is cut off without a word). */
  readonly skipped: string[] = []
  private readonly writes = new Map<string, QueuedWrite>()
  private handle: FileHandle | null = null
  /** Appends, removals and compaction one after another. */
  private chain: Promise<void> = Promise.resolve()

  /** `prefix` names the files of a second queue in the same directory (the CQL front end's: cql-queue.jsonl). */
  constructor(
    readonly dir: string,
    prefix = '',
  ) {
    this.path = join(dir, `${prefix}queue.jsonl`)
    this.deadLetterPath = join(dir, `${prefix}dead-letter.jsonl`)
  }

  async open(): Promise<string | null> {
    try {
      // Opened again after a failure: start from the file.
      this.writes.clear()
      this.skipped.length = 0
      await mkdir(this.dir, { recursive: true })
      const text = await readFile(this.path, 'utf8').catch((e: NodeJS.ErrnoException) => {
        if (e.code === 'ENOENT') return ''
        throw e
      })
      // A line without its newline was being written when the process died: it was never acknowledged.
      const whole = text.slice(0, text.lastIndexOf('\n') + 1)
      for (const line of whole.split('\n')) {
        if (line === '') continue
        const done = /^\{"done":("(?:[^"\\]|\\.)*")\}$/.exec(line)
        if (done) {
          this.writes.delete(JSON.parse(done[1]!) as string)
          continue
        }
        const write = decodeQueuedWrite(line)
        if (write instanceof Error) this.skipped.push(write.message)
        else this.writes.set(write.id, write)
      }
      this.handle = await open(this.path, 'a')
      if (this.writes.size === 0 && text !== '') await this.truncate(0)
      else if (whole.length !== text.length) await this.truncate(Buffer.byteLength(whole))
      return null
    } catch (error) {
      return `grey: the partition queue file in ${this.dir} cannot be used (${(error as Error).message}); set partition.queue.dir to a writable directory`
    }
  }

  entries(): readonly QueuedWrite[] {
    return [...this.writes.values()]
  }

  append(write: QueuedWrite): Promise<void> {
    return this.serially(async (handle) => {
      await handle.write(`${encodeQueuedWrite(write)}\n`)
      await handle.datasync()
      this.writes.set(write.id, write)
    })
  }

  remove(id: string): Promise<void> {
    return this.serially(async (handle) => {
      if (!this.writes.delete(id)) return
      if (this.writes.size === 0) return this.truncate(0)
      await handle.write(`${JSON.stringify({ done: id })}\n`)
      await handle.datasync()
    })
  }

  async deadLetter(write: QueuedWrite, reason: string): Promise<void> {
    const letter: DeadLetter = { write, reason, at: new Date().toISOString() }
    const dead = await open(this.deadLetterPath, 'a')
    try {
      await dead.write(`${JSON.stringify(letter)}\n`)
      await dead.datasync()
    } finally {
      await dead.close()
    }
    await this.remove(write.id)
  }

  async close(): Promise<void> {
    await this.chain
    await this.handle?.close()
    this.handle = null
  }

  /** Cuts the file to `bytes`: to nothing once every write has left, or before a torn last line. */
  private async truncate(bytes: number): Promise<void> {
    await this.handle!.truncate(bytes)
    await this.handle!.datasync()
  }

  private serially(step: (handle: FileHandle) => Promise<void>): Promise<void> {
    const handle = this.handle
    if (handle === null) return Promise.reject(new Error('grey: the partition queue file is not open'))
    const next = this.chain.then(() => step(handle))
    this.chain = next.catch(() => undefined)
    return next
  }
}
