import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { createConnection } from 'node:net'
import type { LabPlan, RegionPlan } from './lab-plan.js'
import { spawnDetached, waitFor } from './lab-process.js'

export const redisDir = (plan: LabPlan, region: string): string => join(plan.dir, 'redis', region)

/**
 * One Redis per region: Grey's Redis is region-local (ARCHITECTURE §1), and a region cut off from
 * the others must still reach its own durable queue. Append-only with fsync on every write.
 */
export async function startRedis(plan: LabPlan, region: RegionPlan): Promise<number> {
  const dir = redisDir(plan, region.name)
  mkdirSync(dir, { recursive: true })
  const pid = spawnDetached(
    'redis-server',
    [
      '--bind',
      region.redis.host,
      '--port',
      String(region.redis.port),
      '--dir',
      dir,
      '--appendonly',
      'yes',
      '--appendfsync',
      'always',
      '--save',
      '',
      '--daemonize',
      'no',
      '--protected-mode',
      'yes',
    ],
    { logPath: join(dir, 'redis.log'), cwd: dir },
  )
  await waitFor(`redis ${region.name} on ${region.redis.port}`, () => redisPing(region.redis.host, region.redis.port), 15_000)
  return pid
}

/** PING over RESP without a client library: resolves true on +PONG, null otherwise. */
export function redisPing(host: string, port: number): Promise<true | null> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port })
    const done = (v: true | null): void => {
      socket.destroy()
      resolve(v)
    }
    socket.setTimeout(1000, () => done(null))
    socket.on('error', () => done(null))
    socket.on('connect', () => socket.write('PING\r\n'))
    socket.on('data', (d) => done(d.toString().startsWith('+PONG') ? true : null))
  })
}
