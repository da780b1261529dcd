import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { readFileSync, writeFileSync, existsSync } from 'node:fs'
import type { Logger } from 'pino'
import { oneWayDelayMs, type Endpoint } from '../lab-plan.js'
import { cassandraHandshakeSender } from './cassandra-handshake-sender.js'
import { WanRelay, type RelaySpec, type WanLinks } from './wan-relay.js'

export interface WanPlan {
  relays: RelaySpec[]
  /** Broadcast address → region: a shared relay (Cassandra internode) learns its caller from the handshake. */
  cassandraPeers: Record<string, string>
  /** Uniform extra delay 0..jitterMs per chunk; order is kept. */
  jitterMs: number
  control: Endpoint
  /** Where partitions are kept, so that a restarted emulator keeps them. */
  statePath: string
  regions: string[]
}

export interface WanState {
  partitioned: string[]
}

/** The lab's userspace WAN: every cross-region relay plus an HTTP control port for partitions. */
export class WanEmulator implements WanLinks {
  private readonly partitioned = new Set<string>()
  private readonly relays: WanRelay[]
  private controlServer: Server | null = null

  constructor(
    private readonly plan: WanPlan,
    private readonly log: Logger,
  ) {
    this.relays = plan.relays.map((spec) => new WanRelay(spec, this, log))
    if (existsSync(plan.statePath)) {
      const state = JSON.parse(readFileSync(plan.statePath, 'utf8')) as WanState
      for (const region of state.partitioned) this.partitioned.add(region)
    }
  }

  delayMs(from: string, to: string): number {
    const base = oneWayDelayMs(from, to)
    return this.plan.jitterMs > 0 ? base + Math.random() * this.plan.jitterMs : base
  }

  isCut(from: string, to: string): boolean {
    return from !== to && (this.partitioned.has(from) || this.partitioned.has(to))
  }

  regionOfFirstBytes(firstBytes: Buffer): string | undefined {
    const sender = cassandraHandshakeSender(firstBytes)
    return sender === null ? undefined : this.plan.cassandraPeers[sender]
  }

  state(): WanState & { relays: Array<{ name: string; connections: number }> } {
    return {
      partitioned: [...this.partitioned].sort(),
      relays: this.relays.map((r) => ({ name: r.spec.name, connections: r.connectionCount })),
    }
  }

  partition(region: string): void {
    this.partitioned.add(region)
    this.changed()
  }

  heal(region?: string): void {
    if (region) this.partitioned.delete(region)
    else this.partitioned.clear()
    this.changed()
  }

  async start(): Promise<void> {
    await Promise.all(this.relays.map((r) => r.listen()))
    await new Promise<void>((resolve, reject) => {
      const server = createServer((req, res) => this.control(req, res))
      server.once('error', reject)
      server.listen(this.plan.control.port, this.plan.control.host, () => resolve())
      this.controlServer = server
    })
    this.log.info({ relays: this.relays.length, partitioned: [...this.partitioned] }, 'WAN emulator ready')
  }

  async close(): Promise<void> {
    await Promise.all(this.relays.map((r) => r.close()))
    const server = this.controlServer
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()))
  }

  private changed(): void {
    const state: WanState = { partitioned: [...this.partitioned].sort() }
    writeFileSync(this.plan.statePath, JSON.stringify(state))
    this.log.info(state, 'partitions changed')
    for (const relay of this.relays) relay.linksChanged()
  }

  private control(req: IncomingMessage, res: ServerResponse): void {
    const [, verb, region] = (req.url ?? '/').split('/')
    const reply = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' })
      res.end(JSON.stringify(body))
    }
    if (req.method === 'GET' && verb === 'state') return reply(200, this.state())
    if (region && !this.plan.regions.includes(region)) {
      return reply(404, { error: `unknown region "${region}"; the WAN has ${this.plan.regions.join(', ')}` })
    }
    if (req.method === 'POST' && verb === 'partition' && region) {
      this.partition(region)
      return reply(200, this.state())
    }
    if (req.method === 'POST' && verb === 'heal') {
      this.heal(region || undefined)
      return reply(200, this.state())
    }
    reply(404, { error: 'use GET /state, POST /partition/REGION, POST /heal[/REGION]' })
  }
}
