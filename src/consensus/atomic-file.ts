// Small files replaced whole (hard state, snapshot, compacted log): a reader after a crash finds the old version or
// the new one, never a mix. The file holds one record of log-record.ts, so damage is detected rather than parsed.
import { open, readFile, rename } from 'node:fs/promises'
import { dirname } from 'node:path'
import { encodeRecord, readRecord } from './log-record.js'

/** Write to PATH.tmp, fsync it, rename it over PATH, fsync the directory so that the rename itself is durable. */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${path}.tmp`
  const handle = await open(tmp, 'w')
  try {
    await handle.writeFile(bytes)
    await handle.sync()
  } finally {
    await handle.close()
  }
  await rename(tmp, path)
  await syncDirectory(dirname(path))
}

export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/** Replaces PATH with one record holding `payload`. */
export function writeRecordFile(path: string, payload: Uint8Array): Promise<void> {
  return writeFileAtomic(path, encodeRecord(payload))
}

/** The payload of a file written by writeRecordFile; null when there is no such file. */
export async function readRecordFile(path: string): Promise<Buffer | null> {
  let bytes: Buffer
  try {
    bytes = await readFile(path)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw error
  }
  const record = readRecord(bytes, 0)
  if (record.kind !== 'record' || record.end !== bytes.length) {
    // Written by rename, so never torn: this is damage after the fact, which recovery must not paper over.
    const reason = record.kind === 'damaged' ? record.reason : record.kind === 'end' ? 'an empty file' : 'bytes after the record'
    throw new Error(`grey: ${path} is damaged (${reason}); restore it from a backup, or remove the raft data_dir and rejoin the node`)
  }
  return record.payload
}
