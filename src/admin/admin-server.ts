import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { timingSafeEqual } from 'node:crypto'
import type { Logger } from 'pino'
import type { Registry } from 'prom-client'

/** A state-changing or detailed endpoint: always behind the admin token. */
export interface AdminRoute {
  readonly method: 'GET' | 'POST'
  readonly path: string
  /** `body` is the request's JSON (POST) or null (GET). */
  handle(body: unknown): Promise<AdminReply>
}

export interface AdminReply {
  readonly status: number
  readonly body: unknown
}

/** Larger request bodies are refused; a rules file is a few kilobytes. */
const MAX_BODY_BYTES = 1024 * 1024

export interface AdminServerOptions {
  host: string
  port: number
  /** Required for /status; when absent /status is refused with a sentence saying how to enable it. */
  token: string | undefined
  registry: Registry
  log: Logger
  /** Live: the process runs its event loop. Ready: it accepts traffic (false while draining). */
  isReady(): boolean
  status(): unknown
  routes?: readonly AdminRoute[]
}

export interface AdminServer {
  readonly address: string
  close(): Promise<void>
}

function tokenMatches(header: string | undefined, token: string): boolean {
  const given = Buffer.from(header?.replace(/^Bearer\s+/i, '') ?? '')
  const want = Buffer.from(token)
  return given.length === want.length && timingSafeEqual(given, want)
}

function reply(res: ServerResponse, status: number, body: unknown, type = 'application/json'): void {
  const text = typeof body === 'string' ? body : `${JSON.stringify(body, null, 2)}\n`
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' })
  res.end(text)
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > MAX_BODY_BYTES) throw new RangeError(`a request body larger than ${MAX_BODY_BYTES} bytes`)
    chunks.push(chunk)
  }
  const text = Buffer.concat(chunks).toString('utf8')
  return text.trim() === '' ? {} : JSON.parse(text)
}

/** /metrics, /healthz and /readyz are open on the admin port; /status and the routes need the admin token. */
export function startAdminServer(options: AdminServerOptions): Promise<AdminServer> {
  /** True when the request carries the token; otherwise it has been answered. */
  const authorized = (req: IncomingMessage, res: ServerResponse, path: string): boolean => {
    if (!options.token) {
      reply(res, 403, {
        error: `grey: ${path} is disabled because admin.token is not set; set it in the config (or GREY_ADMIN__TOKEN) and send it as "Authorization: Bearer <token>"`,
      })
      return false
    }
    if (!tokenMatches(req.headers.authorization, options.token)) {
      reply(res, 401, { error: `grey: ${path} needs the admin token as "Authorization: Bearer <token>"` })
      return false
    }
    return true
  }
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0] ?? '/'
    const route = options.routes?.find((r) => r.path === path)
    if (route !== undefined) {
      if (req.method !== route.method) return reply(res, 405, { error: `grey: use ${route.method} ${path}` })
      if (!authorized(req, res, path)) return
      let body: unknown = null
      if (route.method === 'POST') {
        try {
          body = await readJson(req)
        } catch (error) {
          // The rest of an oversized body may still be on its way: do not keep this connection for another request.
          res.setHeader('connection', 'close')
          return reply(res, 400, { error: `grey: ${path} takes a JSON body: ${(error as Error).message}` })
        }
      }
      const answer = await route.handle(body)
      return reply(res, answer.status, answer.body)
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(res, 405, { error: 'the admin endpoints are read-only: use GET' })
    switch (path) {
      case '/metrics':
        return reply(res, 200, await options.registry.metrics(), options.registry.contentType)
      case '/healthz':
        return reply(res, 200, { status: 'ok' })
      case '/readyz':
        return options.isReady() ? reply(res, 200, { status: 'ready' }) : reply(res, 503, { status: 'not ready' })
      case '/status':
        if (!authorized(req, res, '/status')) return
        return reply(res, 200, options.status())
      default:
        return reply(res, 404, { error: `no admin endpoint ${path}; try /metrics, /healthz, /readyz or /status` })
    }
  }
  return new Promise((resolve, reject) => {
    const server: Server = createServer((req, res) => {
      handle(req, res).catch((err: unknown) => {
        options.log.error({ err }, 'admin request failed')
        if (!res.headersSent) reply(res, 500, { error: 'internal error; see the Grey log' })
      })
    })
    server.once('error', reject)
    server.listen(options.port, options.host, () => {
      server.off('error', reject)
      resolve({
        address: `${options.host}:${options.port}`,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done())
            server.closeAllConnections()
          }),
      })
    })
  })
}
