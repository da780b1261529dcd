import { pino, type Logger } from 'pino'

/** pino JSON to stdout; one child logger per component or connection. */
export function createLogger(level: string, base: Record<string, string>): Logger {
  return pino({ level, base, timestamp: pino.stdTimeFunctions.isoTime })
}
