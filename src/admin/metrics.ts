import { collectDefaultMetrics, Gauge, Registry } from 'prom-client'

export interface GreyMetrics {
  registry: Registry
}

/** One registry per process; metric names follow the seed card, labels stay bounded. */
export function createMetrics(info: { region: string; instance: string; version: string }): GreyMetrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'grey_' })
  const build = new Gauge({
    name: 'grey_info',
    help: 'Constant 1, labelled with this Grey instance and its region.',
    labelNames: ['region', 'instance', 'version'],
    registers: [registry],
  })
  build.set(info, 1)
  return { registry }
}
