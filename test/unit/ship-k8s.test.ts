import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, posix } from 'node:path'
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1'
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1'
import { ConfigMap, Namespace, Secret, Service } from 'kubernetes-models/v1'
import t, { type Test } from 'tap'
import ts from 'typescript'
import { parse, parseAllDocuments } from 'yaml'
import type { Config } from '../../src/config/config-schema.js'
import { hostPort } from '../../src/config/host-port.js'
import { loadConfig } from '../../src/config/load-config.js'
import { dockerfileEnv, ROOT, type Env } from '../fixtures/ship-files.js'

const DIR = join(ROOT, 'docker', 'k8s')

/** The kinds the manifests use: the kubernetes-models class that validates each, and the TypeScript type it declares. */
const KINDS = {
  'v1/Namespace': { model: Namespace, module: 'kubernetes-models/v1', type: 'INamespace' },
  'v1/ConfigMap': { model: ConfigMap, module: 'kubernetes-models/v1', type: 'IConfigMap' },
  'v1/Secret': { model: Secret, module: 'kubernetes-models/v1', type: 'ISecret' },
  'v1/Service': { model: Service, module: 'kubernetes-models/v1', type: 'IService' },
  'apps/v1/Deployment': { model: Deployment, module: 'kubernetes-models/apps/v1', type: 'IDeployment' },
  'apps/v1/StatefulSet': { model: StatefulSet, module: 'kubernetes-models/apps/v1', type: 'IStatefulSet' },
  'policy/v1/PodDisruptionBudget': { model: PodDisruptionBudget, module: 'kubernetes-models/policy/v1', type: 'IPodDisruptionBudget' },
} as const
type KindKey = keyof typeof KINDS

// The shapes this test reads; kubernetes-models validates the whole objects.
interface EnvVar {
  name: string
  value?: string
  valueFrom?: { fieldRef?: { fieldPath: string }; secretKeyRef?: { name: string; key: string } }
}
interface Probe {
  httpGet?: { path: string; port: string | number }
}
interface Container {
  name: string
  image?: string
  args?: string[]
  env?: EnvVar[]
  ports?: { name?: string; containerPort: number }[]
  startupProbe?: Probe
  livenessProbe?: Probe
  readinessProbe?: Probe
  restartPolicy?: string
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> }
  volumeMounts?: { name: string; mountPath: string }[]
  lifecycle?: { postStart?: { exec?: { command: string[] } }; preStop?: { exec?: { command: string[] } } }
}
interface PodSpec {
  terminationGracePeriodSeconds?: number
  initContainers?: Container[]
  containers: Container[]
  volumes?: { name: string; configMap?: { name: string; items?: { key: string; path: string }[] }; emptyDir?: object }[]
}
interface Workload {
  metadata: { name: string; namespace?: string }
  spec: {
    replicas?: number
    serviceName?: string
    selector: { matchLabels: Record<string, string> }
    template: { metadata: { labels: Record<string, string> }; spec: PodSpec }
    volumeClaimTemplates?: { metadata: { name: string } }[]
  }
}
interface K8sObject {
  apiVersion: string
  kind: string
  metadata: { name: string; namespace?: string }
  [key: string]: unknown
}

const kustomization = parse(readFileSync(join(DIR, 'kustomization.yaml'), 'utf8')) as { resources: string[] }
const manifests = readdirSync(DIR).filter((name) => name.endsWith('.yaml') && name !== 'kustomization.yaml')
const objects = manifests.flatMap((file) =>
  parseAllDocuments(readFileSync(join(DIR, file), 'utf8')).map((doc, i) => ({ where: `${file}#${i}`, object: doc.toJS() as K8sObject })),
)
const find = <T>(kind: string, name: string): T => {
  const found = objects.find((o) => o.object.kind === kind && o.object.metadata.name === name)
  if (found === undefined) throw new Error(`docker/k8s has no ${kind} ${name}`)
  return found.object as unknown as T
}
const app = find<Workload>('Deployment', 'orders-api')
const voters = find<Workload>('StatefulSet', 'grey-raft')
const votersService = find<
  K8sObject & {
    spec: { clusterIP?: string; selector: Record<string, string>; ports: { name: string; port: number; targetPort: string }[] }
  }
>('Service', 'grey-raft')
const secrets = find<{ stringData: Record<string, string> }>('Secret', 'grey-secrets')
const configMap = find<{ data: Record<string, string> }>('ConfigMap', 'grey-config')
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }

/**
 * The environment a container runs with, as the kubelet builds it: the image's ENV, then the container's env in order,
 * `$(VAR)` expanded from the variables before it, secrets and downward-API fields resolved.
 */
function containerEnv(container: Container, pod: { name: string; ip: string }): Env {
  const env: Env = { ...dockerfileEnv() }
  for (const v of container.env ?? []) {
    if (v.value !== undefined) env[v.name] = v.value.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (whole, name: string) => env[name] ?? whole)
    else if (v.valueFrom?.fieldRef) {
      const field = { 'metadata.name': pod.name, 'status.podIP': pod.ip }[v.valueFrom.fieldRef.fieldPath]
      if (field === undefined) throw new Error(`${container.name}: ${v.name} uses an unexpected field ${v.valueFrom.fieldRef.fieldPath}`)
      env[v.name] = field
    } else if (v.valueFrom?.secretKeyRef) {
      const { name, key } = v.valueFrom.secretKeyRef
      const value = name === 'grey-secrets' ? secrets.stringData[key] : undefined
      if (value === undefined)
        throw new Error(`${container.name}: ${v.name} needs secret ${name} key ${key}, which docker/k8s does not have`)
      env[v.name] = value
    } else throw new Error(`${container.name}: ${v.name} has no value`)
  }
  return env
}

/** The Grey configuration a container loads: the ConfigMap's file at its --config path, with its environment. */
function greyConfigOf(spec: PodSpec, container: Container, pod: { name: string; ip: string }): Config {
  const args = container.args ?? []
  t.same(args.slice(0, 2), ['proxy', '--config'], `${container.name}: runs grey proxy --config FILE`)
  const file = args[2] ?? ''
  const mount = container.volumeMounts?.find((m) => m.mountPath === posix.dirname(file))
  const volume = spec.volumes?.find((v) => v.name === mount?.name)
  const item = volume?.configMap?.items?.find((i) => i.path === posix.basename(file))
  if (volume?.configMap?.name !== 'grey-config' || item === undefined)
    throw new Error(`${container.name}: ${file} is not from ConfigMap grey-config`)
  const text = configMap.data[item.key]
  if (text === undefined) throw new Error(`ConfigMap grey-config has no key ${item.key}`)
  const dir = mkdtempSync(join(tmpdir(), 'grey-k8s-'))
  try {
    writeFileSync(join(dir, 'grey.yaml'), text)
    return loadConfig(join(dir, 'grey.yaml'), containerEnv(container, pod))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** The port number a probe's httpGet.port names: a number, or the name of one of the container's ports. */
function probePort(container: Container, probe: Probe | undefined): number | undefined {
  const port = probe?.httpGet?.port
  return typeof port === 'number' ? port : container.ports?.find((p) => p.name === port)?.containerPort
}

function checkProbesAndResources(tt: Test, container: Container, config: Config): void {
  const admin = hostPort(config.admin.listen)
  tt.notOk(['127.0.0.1', 'localhost', '[::1]'].includes(admin.host), `admin.listen ${config.admin.listen} is reachable by the kubelet`)
  for (const [probe, path] of [
    ['startupProbe', '/healthz'],
    ['livenessProbe', '/healthz'],
    ['readinessProbe', '/readyz'],
  ] as const) {
    tt.equal(container[probe]?.httpGet?.path, path, `${container.name}: ${probe} asks ${path}`)
    tt.equal(probePort(container, container[probe]), admin.port, `${container.name}: ${probe} on the admin port ${admin.port}`)
  }
  for (const kind of ['requests', 'limits'] as const) {
    tt.match(container.resources?.[kind], { cpu: /\S/, memory: /\S/ }, `${container.name}: cpu and memory ${kind}`)
  }
  tt.equal(container.image, `registry.example.com/grey:${pkg.version}`, `${container.name}: the image of this version`)
}

t.test('kustomization.yaml applies every manifest in docker/k8s, all in one namespace', async (t) => {
  t.same([...kustomization.resources].sort(), [...manifests].sort(), 'resources = the manifest files')
  t.match(readFileSync(join(DIR, 'kustomization.yaml'), 'utf8'), /kubectl apply -k docker\/k8s\//, 'it says how to apply it')
  const namespace = find<K8sObject>('Namespace', 'grey').metadata.name
  for (const { where, object } of objects) {
    if (object.kind !== 'Namespace') t.equal(object.metadata.namespace, namespace, `${where} ${object.kind}: namespace ${namespace}`)
  }
})

t.test('every object is valid against the Kubernetes schemas of kubernetes-models', async (t) => {
  t.same(
    objects.map(({ object }) => `${object.kind}/${object.metadata.name}`).sort(),
    [
      'ConfigMap/grey-config',
      'Deployment/orders-api',
      'Namespace/grey',
      'PodDisruptionBudget/grey-raft',
      'Secret/grey-secrets',
      'Service/grey-raft',
      'StatefulSet/grey-raft',
    ],
    'the objects',
  )
  for (const { where, object } of objects) {
    const kind = KINDS[`${object.apiVersion}/${object.kind}` as KindKey]
    t.ok(kind, `${where}: ${object.apiVersion} ${object.kind} is a kind this test knows`)
    if (!kind) continue
    t.doesNotThrow(() => new kind.model(object as never).validate(), `${where}: ${object.kind} ${object.metadata.name}`)
  }
  // The schemas check types and required fields; this proves they run.
  t.throws(
    () => new Service({ metadata: { name: 'x' }, spec: { ports: [{ port: 'admin' as unknown as number }] } }).validate(),
    'a bad port is refused',
  )
})

t.test('every field is one Kubernetes knows (typed by the same models: a misspelt key is an error)', async (t) => {
  // The JSON schemas let unknown keys through, as the API server does without strict field validation;
  // TypeScript's excess-property check on the models' types does not.
  const source = (list: { object: K8sObject }[]): string => {
    const modules = new Map<string, Set<string>>()
    for (const { object } of list) {
      const kind = KINDS[`${object.apiVersion}/${object.kind}` as KindKey]
      modules.set(kind.module, (modules.get(kind.module) ?? new Set()).add(kind.type))
    }
    const imports = [...modules].map(([module, types]) => `import type { ${[...types].join(', ')} } from '${module}'`)
    const consts = list.map(({ object }, i) => {
      const kind = KINDS[`${object.apiVersion}/${object.kind}` as KindKey]
      return `export const object${i}: ${kind.type} = ${JSON.stringify(object, null, 2)}`
    })
    return [...imports, ...consts].join('\n')
  }
  const misspelt = structuredClone(app) as unknown as K8sObject & {
    spec: { template: { spec: { initContainers: Record<string, unknown>[] } } }
  }
  const sidecar = misspelt.spec.template.spec.initContainers[0]!
  sidecar.restartPolicyy = sidecar.restartPolicy
  delete sidecar.restartPolicy
  const files = {
    [join(ROOT, 'test', 'unit', 'k8s-manifests.virtual.ts')]: source(objects),
    [join(ROOT, 'test', 'unit', 'k8s-misspelt.virtual.ts')]: source([{ object: misspelt }]),
  }
  const options: ts.CompilerOptions = {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
  }
  const host = ts.createCompilerHost(options)
  const readFile = host.readFile.bind(host)
  const getSourceFile = host.getSourceFile.bind(host)
  host.fileExists = (name) => name in files || ts.sys.fileExists(name)
  host.readFile = (name) => files[name] ?? readFile(name)
  host.getSourceFile = (name, version) => (name in files ? ts.createSourceFile(name, files[name]!, version) : getSourceFile(name, version))
  const program = ts.createProgram(Object.keys(files), options, host)
  const diagnostics = (name: string): string[] =>
    ts.getPreEmitDiagnostics(program, program.getSourceFile(name)).map((d) => ts.flattenDiagnosticMessageText(d.messageText, ' '))
  const [manifestsFile, misspeltFile] = Object.keys(files) as [string, string]
  t.same(diagnostics(manifestsFile), [], 'no unknown or mistyped field in docker/k8s')
  t.match(
    diagnostics(misspeltFile).join('\n'),
    /'"restartPolicyy"' does not exist in type 'IContainer'/,
    'a misspelt field would be caught',
  )
})

t.test('the application runs Grey as a native sidecar on loopback, probed on the admin port', async (t) => {
  const spec = app.spec.template.spec
  t.has(app.spec.template.metadata.labels, app.spec.selector.matchLabels, 'the selector picks the pods')
  const sidecar = spec.initContainers?.find((c) => c.name === 'grey')
  t.ok(sidecar, 'Grey is an init container')
  t.equal(sidecar?.restartPolicy, 'Always', '... with restartPolicy Always: a sidecar that runs beside the application')
  t.notOk(
    spec.containers.some((c) => c.image?.includes('/grey:')),
    'and not an ordinary container',
  )
  const pod = { name: 'orders-api-5d8f7c9b6-x2x7q', ip: '10.1.2.3' }
  const config = greyConfigOf(spec, sidecar!, pod)
  checkProbesAndResources(t, sidecar!, config)
  t.ok(
    spec.containers.every((c) => c.resources?.requests && c.resources.limits),
    'the application has requests and limits too',
  )
  t.ok(
    spec.terminationGracePeriodSeconds! > config.proxy.drain_timeout / 1000,
    `terminationGracePeriodSeconds ${spec.terminationGracePeriodSeconds} is above drain_timeout (${config.proxy.drain_timeout} ms)`,
  )
  // What the application talks to is what Grey listens on, in the same pod.
  t.equal(config.proxy.listen.pg, '127.0.0.1:6432', 'the PostgreSQL front end on loopback')
  t.equal(config.proxy.listen.cql, '127.0.0.1:9043', 'the CQL front end on loopback')
  const appEnv = containerEnv(spec.containers[0]!, pod)
  t.equal(`${appEnv.PGHOST}:${appEnv.PGPORT}`, config.proxy.listen.pg, "the application's PGHOST:PGPORT")
  t.equal(appEnv.CASSANDRA_CONTACT_POINTS, config.proxy.listen.cql, "the application's CQL contact point")
  t.equal(config.proxy.auth.users[appEnv.PGUSER!]?.password, appEnv.PGPASSWORD, 'the application logs in with the password Grey has for it')
  // A learner: its own id, not among the voters, registered through a voter's admin API.
  t.equal(config.proxy.instance_id, pod.name, 'instance id = pod name')
  t.notOk(
    config.consensus.raft.peers.some((p) => p.id === pod.name),
    'not a voter',
  )
  const sidecarEnv = containerEnv(sidecar!, pod)
  const voterAdmin = votersService.spec.ports.find((p) => p.name === 'admin')
  t.equal(
    sidecarEnv.GREY_ADMIN_URL,
    `http://${votersService.metadata.name}.${votersService.metadata.namespace}.svc.cluster.local:${voterAdmin?.port}`,
    'GREY_ADMIN_URL: the voters',
  )
  t.match(sidecar?.lifecycle?.postStart?.exec?.command.join(' '), /cluster add-learner "\$POD_NAME" "\$POD_IP:7400"/, 'joins as a learner')
  t.match(sidecar?.lifecycle?.preStop?.exec?.command.join(' '), /cluster remove "\$POD_NAME"/, 'and leaves')
  t.equal(hostPort(config.consensus.raft.listen).port, sidecar?.ports?.find((p) => p.name === 'raft')?.containerPort, 'the Raft port')
  t.ok(
    sidecar?.volumeMounts?.some((m) => config.consensus.raft.data_dir.startsWith(`${m.mountPath}/`)),
    `${config.consensus.raft.data_dir} is on a volume`,
  )
})

t.test('the Raft voters: a StatefulSet of 3 whose stable names are the peers of the config', async (t) => {
  const spec = voters.spec.template.spec
  const replicas = voters.spec.replicas ?? 1
  t.equal(replicas, 3, 'three voters')
  t.has(voters.spec.template.metadata.labels, voters.spec.selector.matchLabels, 'the selector picks the pods')
  t.equal(voters.spec.serviceName, votersService.metadata.name, 'governed by the headless Service')
  t.equal(votersService.spec.clusterIP, 'None', 'headless')
  t.has(voters.spec.template.metadata.labels, votersService.spec.selector, 'the Service selects the voters')
  const grey = spec.containers.find((c) => c.name === 'grey')!
  for (let ordinal = 0; ordinal < replicas; ordinal++) {
    const pod = { name: `${voters.metadata.name}-${ordinal}`, ip: `10.1.3.${ordinal + 1}` }
    const config = greyConfigOf(spec, grey, pod)
    const raftPort = hostPort(config.consensus.raft.listen).port
    t.same(
      config.consensus.raft.peers.map((p) => `${p.id}@${p.address}`),
      Array.from(
        { length: replicas },
        (_, i) =>
          `${voters.metadata.name}-${i}@${voters.metadata.name}-${i}.${votersService.metadata.name}.${voters.metadata.namespace}.svc.cluster.local:${raftPort}`,
      ),
      `${pod.name}: the peers are the StatefulSet's pods, by their DNS names`,
    )
    t.equal(config.consensus.raft.node_id, pod.name, `${pod.name}: its node id is its pod name, a voter`)
    t.same(config.proxy.listen, {}, `${pod.name}: no front ends`)
    if (ordinal > 0) continue
    checkProbesAndResources(t, grey, config)
    t.equal(grey.ports?.find((p) => p.name === 'raft')?.containerPort, raftPort, 'the Raft port')
    t.equal(votersService.spec.ports.find((p) => p.name === 'raft')?.targetPort, 'raft', 'the Service reaches it')
    t.ok(
      spec.terminationGracePeriodSeconds! > config.proxy.drain_timeout / 1000,
      `terminationGracePeriodSeconds ${spec.terminationGracePeriodSeconds} is above drain_timeout (${config.proxy.drain_timeout} ms)`,
    )
    const claim = voters.spec.volumeClaimTemplates?.[0]?.metadata.name
    t.ok(
      grey.volumeMounts?.some((m) => m.name === claim && config.consensus.raft.data_dir.startsWith(`${m.mountPath}/`)),
      `the Raft log (${config.consensus.raft.data_dir}) is on the pod's persistent volume`,
    )
  }
  const pdb = find<{ spec: { minAvailable: number; selector: { matchLabels: Record<string, string> } } }>(
    'PodDisruptionBudget',
    'grey-raft',
  )
  t.equal(pdb.spec.minAvailable, Math.floor(replicas / 2) + 1, 'a disruption budget that keeps the quorum')
  t.has(voters.spec.template.metadata.labels, pdb.spec.selector.matchLabels, 'for the voters')
})
