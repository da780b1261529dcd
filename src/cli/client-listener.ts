import { createServer, type Server, type Socket } from 'node:net'
import type { Logger } from 'pino'
import { hostPort } from '../config/host-port.js'

export interface ClientListenerOptions {
  /** host:port to listen on. */
  address: string
  /** proxy.limits.max_client_connections. */
  maxClients: number
  /** Clients connected now. */
  clients(): number
  accept(socket: Socket): void
  /** What a client over the limit is told before its socket is closed (nothing: closed at once). */
  refusal: Buffer | null
  log: Logger
}

/** A front end's listening socket: admits clients up to the limit; the others get `refusal` and are closed. */
export async function listenForClients(options: ClientListenerOptions): Promise<Server> {
  const { host, port } = hostPort(options.address)
  const server = createServer((socket) => {
    if (options.clients() < options.maxClients) return options.accept(socket)
    options.log.warn({ limit: options.maxClients }, 'client refused: too many connections')
    socket.on('error', () => undefined)
    if (!options.refusal) return void socket.destroy()
    // A client that keeps its end open after the refusal must not hold the socket for ever.
    setTimeout(() => socket.destroy(), 1000).unref()
    socket.end(options.refusal)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => resolve())
  })
  return server
}
