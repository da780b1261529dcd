import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { timingSafeEqual } from 'node:crypto'
import type { Logger } from 'pino'
import type { Registry } from 'prom-client'

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

/** /metrics, /healthz and /readyz are open on the admin port; /status needs the admin token. */
export function startAdminServer(options: AdminServerOptions): Promise<AdminServer> {
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0]
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(res, 405, { error: 'the admin endpoints are read-only: use GET' })
    switch (path) {
      case '/metrics':
        return reply(res, 200, await options.registry.metrics(), options.registry.contentType)
      case '/healthz':
        return reply(res, 200, { status: 'ok' })
      case '/readyz':
        return options.isReady() ? reply(res, 200, { status: 'ready' }) : reply(res, 503, { status: 'not ready' })
      case '/status':
        if (!options.token)
          return reply(res, 403, {
            error:
              'grey: /status is disabled because admin.token is not set; set it in the config (or GREY_ADMIN__TOKEN) and send it as "Authorization: Bearer <token>"',
          })
        if (!tokenMatches(req.headers.authorization, options.token))
          return reply(res, 401, { error: 'grey: /status needs the admin token as "Authorization: Bearer <token>"' })
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
