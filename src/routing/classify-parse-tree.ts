import {
  DML_WRITES,
  mergeStatementClasses,
  relationName,
  SELECT_READS,
  setClass,
  showClass,
  statementClass,
  statementSql,
  transactionClass,
  type SessionChange,
  type SqlAccess,
  type StatementClass,
  type TransactionControl,
  type TransactionKind,
} from './sql-classification.js'
import { sqlFunctionEffect, type WritingFunctions } from './sql-function-effect.js'
import { sqlLiteral } from './sql-literal.js'

// libpg-query's JSON: a node is `{ NodeName: { field: … } }`; fields that always hold one type of node
// (InsertStmt.relation, CallStmt.funccall, …) hold the body without the wrapper. Zero, false and empty
// values are left out, as in protobuf.
type JsonObject = { readonly [field: string]: unknown }
const NO_FIELDS: JsonObject = {}

const isObject = (value: unknown): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value)
const asObject = (value: unknown): JsonObject => (isObject(value) ? value : NO_FIELDS)
const asList = (value: unknown): readonly unknown[] => (Array.isArray(value) ? value : [])
const asString = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined)

interface ParseNode {
  readonly kind: string
  readonly body: JsonObject
}
/** `{ SelectStmt: {…} }` as its node name and body; an unexpected shape becomes an unknown node. */
function parseNode(value: unknown): ParseNode {
  const wrapper = asObject(value)
  for (const kind in wrapper) return { kind, body: asObject(wrapper[kind]) }
  return { kind: 'unknown node', body: NO_FIELDS }
}

/** The text of an A_Const (string, integer or float), as SET sees it; undefined for anything else. */
function constantText(value: unknown): string | undefined {
  const constant = parseNode(value)
  if (constant.kind !== 'A_Const') return undefined
  const { sval, ival, fval } = constant.body
  if (isObject(sval)) return asString(sval.sval)
  if (isObject(ival)) return String(ival.ival ?? 0)
  return asString(asObject(fval).fval)
}
const stringValue = (value: unknown): string => String(parseNode(value).body.sval)

interface Context {
  readonly writing: WritingFunctions
  /** The statement's own text, for replaying session changes. */
  readonly sql: () => string
}

/** What a generic walk over a statement's tree finds. */
interface TreeFacts {
  readonly relations: JsonObject[]
  readonly calls: JsonObject[]
  readonly cteNames: Set<string>
  readonly nestedWrites: string[]
  lockStrength: string | undefined
  selectInto: JsonObject | undefined
}

const NESTED_WRITES = new Map([
  ['InsertStmt', 'INSERT'],
  ['UpdateStmt', 'UPDATE'],
  ['DeleteStmt', 'DELETE'],
  ['MergeStmt', 'MERGE'],
])
const LOCK_STRENGTHS: Record<string, string> = {
  LCS_FORUPDATE: 'FOR UPDATE',
  LCS_FORNOKEYUPDATE: 'FOR NO KEY UPDATE',
  LCS_FORSHARE: 'FOR SHARE',
  LCS_FORKEYSHARE: 'FOR KEY SHARE',
}

function visit(value: unknown, facts: TreeFacts): void {
  if (Array.isArray(value)) {
    for (const item of value) visit(item, facts)
    return
  }
  if (!isObject(value)) return
  // RangeVar and FuncCall bodies are recognised by their fields: they also appear without a wrapper.
  if (typeof value.relname === 'string' && typeof value.relpersistence === 'string') facts.relations.push(value)
  else if (Array.isArray(value.funcname) && typeof value.funcformat === 'string') facts.calls.push(value)
  for (const field in value) {
    const child = value[field]
    const write = NESTED_WRITES.get(field)
    if (write !== undefined) facts.nestedWrites.push(write)
    else if (field === 'LockingClause') facts.lockStrength ??= LOCK_STRENGTHS[String(asObject(child).strength)]
    else if (field === 'intoClause') facts.selectInto ??= asObject(child)
    else if (field === 'ctename' && typeof child === 'string') facts.cteNames.add(child)
    visit(child, facts)
  }
}

function scanTree(body: unknown): TreeFacts {
  const facts: TreeFacts = {
    relations: [],
    calls: [],
    cteNames: new Set(),
    nestedWrites: [],
    lockStrength: undefined,
    selectInto: undefined,
  }
  visit(body, facts)
  return facts
}

const rangeVarName = (rangeVar: JsonObject): string =>
  relationName([rangeVar.catalogname, rangeVar.schemaname, rangeVar.relname].filter((part): part is string => typeof part === 'string'))
// CREATE TEMP TABLE, and CREATE TABLE pg_temp.t, which PostgreSQL also makes temporary.
const isTemporary = (rangeVar: JsonObject): boolean => rangeVar.relpersistence === 't' || rangeVar.schemaname === 'pg_temp'
const temporaryPin = (noun: string, rangeVar: JsonObject): string =>
  `temporary ${noun} ${rangeVarName(rangeVar)} exists only on this backend`

/** Relations in first-mention order, leaving out references to the statement's CTEs. */
function tablesOf(facts: TreeFacts): string[] {
  const tables = new Set<string>()
  for (const relation of facts.relations) {
    if (relation.schemaname === undefined && facts.cteNames.has(String(relation.relname))) continue
    tables.add(rangeVarName(relation))
  }
  return [...tables]
}

/**
 * set_config(name, value, is_local) is SET in function form: recorded when its arguments are constants;
 * otherwise it pins the session, unless is_local = true keeps the change inside the transaction.
 */
function setConfigEffect(call: JsonObject): { change?: SessionChange; pins?: string } {
  const [nameArg, valueArg, localArg] = asList(call.args).map(parseNode)
  const name = nameArg?.kind === 'A_Const' ? asString(asObject(nameArg.body.sval).sval) : undefined
  const value = valueArg?.kind === 'A_Const' ? asString(asObject(valueArg.body.sval).sval) : undefined
  const localFlag = localArg?.kind === 'A_Const' ? localArg.body.boolval : undefined
  const local = isObject(localFlag) ? localFlag.boolval === true : undefined
  if (name !== undefined && value !== undefined && local !== undefined) {
    const sql = `SELECT pg_catalog.set_config(${sqlLiteral(name)}, ${sqlLiteral(value)}, ${local})`
    return { change: { kind: 'set', name: name.toLowerCase(), value, local, sql } }
  }
  if (local === true) return {}
  return { pins: 'set_config() with arguments known only when it runs changes a setting that cannot be replayed on other backends' }
}

/** A statement that evaluates expressions: its function calls may make it write, pin the session or change settings. */
function runs(
  kind: string,
  facts: TreeFacts,
  access: SqlAccess,
  reason: string,
  context: Context,
  pin: string | null = null,
): StatementClass {
  let pins = pin
  const session: SessionChange[] = []
  for (const call of facts.calls) {
    const effect = sqlFunctionEffect(asList(call.funcname).map(stringValue), context.writing)
    if (effect === undefined) continue
    if (effect.write !== undefined && access === 'read') {
      access = 'write'
      reason = effect.write
    }
    pins ??= effect.pins ?? null
    if (effect.setsConfig === true) {
      const { change, pins: setConfigPin } = setConfigEffect(call)
      if (change !== undefined) session.push(change)
      pins ??= setConfigPin ?? null
    }
  }
  return statementClass(kind, access, reason, { tables: tablesOf(facts), pins, session })
}

function classifySelect(body: JsonObject, context: Context): StatementClass {
  const facts = scanTree(body)
  const [nestedWrite] = facts.nestedWrites
  if (nestedWrite !== undefined) return runs('SelectStmt', facts, 'write', `WITH … ${nestedWrite} (a data-modifying CTE) writes`, context)
  if (facts.selectInto !== undefined) {
    const target = asObject(facts.selectInto.rel)
    const pin = isTemporary(target) ? temporaryPin('table', target) : null
    return runs('SelectStmt', facts, 'write', `SELECT … INTO creates table ${rangeVarName(target)}`, context, pin)
  }
  if (facts.lockStrength !== undefined) return runs('SelectStmt', facts, 'write', `SELECT … ${facts.lockStrength} locks rows`, context)
  return runs('SelectStmt', facts, 'read', SELECT_READS, context)
}

// PostgreSQL's defGetBoolean: no value means true; "false", "off", "no" and 0 mean false.
function optionIsOn(options: unknown, name: string): boolean {
  for (const option of asList(options)) {
    const { defname, arg } = parseNode(option).body
    if (defname !== name) continue
    if (arg === undefined) return true
    const value = parseNode(arg)
    if (value.kind === 'Integer') return value.body.ival !== undefined && value.body.ival !== 0
    return !['false', 'off', 'no', 'f', 'n', '0'].includes(String(value.body.sval).toLowerCase())
  }
  return false
}

function classifyExplain(body: JsonObject, context: Context): StatementClass {
  const inner = parseNode(body.query)
  if (optionIsOn(body.options, 'analyze')) {
    const executed = classifyStatement(inner, context)
    return { ...executed, statementKinds: ['ExplainStmt'], reason: `EXPLAIN ANALYZE runs the statement: ${executed.reason}` }
  }
  const tables = tablesOf(scanTree(inner.body))
  if (inner.kind === 'ExecuteStmt') {
    return statementClass('ExplainStmt', 'write', 'EXPLAIN EXECUTE needs the statement prepared by SQL PREPARE, on the primary', { tables })
  }
  return statementClass('ExplainStmt', 'read', 'EXPLAIN without ANALYZE only plans the statement', { tables })
}

function classifyCopy(body: JsonObject, context: Context): StatementClass {
  const facts = scanTree(body)
  if (body.is_from === true) return runs('CopyStmt', facts, 'write', 'COPY … FROM writes rows', context)
  const query = body.query === undefined ? undefined : classifyStatement(parseNode(body.query), context)
  if (query?.access === 'write')
    return { ...query, statementKinds: ['CopyStmt'], reason: `COPY (…) TO runs a statement that writes: ${query.reason}` }
  const copied = query ?? statementClass('CopyStmt', 'read', 'COPY … TO reads', { tables: tablesOf(facts) })
  if (body.filename !== undefined) {
    return {
      ...copied,
      statementKinds: ['CopyStmt'],
      access: 'write',
      reason: "COPY … TO a server file or program runs on the primary's host",
    }
  }
  return { ...copied, statementKinds: ['CopyStmt'], reason: 'COPY … TO reads' }
}

const CURSOR_OPT_HOLD = 0x20 // parsenodes.h

function classifyDeclareCursor(body: JsonObject, context: Context): StatementClass {
  const name = String(body.portalname)
  const query = classifyStatement(parseNode(body.query), context)
  const hold = (Number(body.options) & CURSOR_OPT_HOLD) !== 0
  return {
    ...query,
    statementKinds: ['DeclareCursorStmt'],
    reason: query.access === 'write' ? query.reason : `DECLARE ${name} reads through a cursor`,
    pins: hold ? `cursor ${name} is declared WITH HOLD and stays open on this backend after COMMIT` : query.pins,
  }
}

const TRANSACTION_KINDS: Record<string, TransactionKind> = {
  TRANS_STMT_BEGIN: 'begin',
  TRANS_STMT_START: 'begin',
  TRANS_STMT_COMMIT: 'commit',
  TRANS_STMT_ROLLBACK: 'rollback',
  TRANS_STMT_SAVEPOINT: 'savepoint',
  TRANS_STMT_RELEASE: 'release',
  TRANS_STMT_ROLLBACK_TO: 'rollback_to',
  TRANS_STMT_PREPARE: 'prepare_transaction',
  TRANS_STMT_COMMIT_PREPARED: 'commit_prepared',
  TRANS_STMT_ROLLBACK_PREPARED: 'rollback_prepared',
}

type TransactionModes = Pick<TransactionControl, 'readOnly' | 'isolation' | 'deferrable'>

/** transaction_isolation / transaction_read_only / transaction_deferrable options; a repeated mode: the last one counts. */
function transactionModes(options: unknown): TransactionModes {
  const modes: { -readonly [K in keyof TransactionModes]: TransactionModes[K] } = {}
  for (const option of asList(options)) {
    const { defname, arg } = parseNode(option).body
    const value = constantText(arg)
    if (defname === 'transaction_isolation') modes.isolation = value
    else if (defname === 'transaction_read_only') modes.readOnly = value === '1'
    else if (defname === 'transaction_deferrable') modes.deferrable = value === '1'
  }
  return modes
}

function classifyTransaction(body: JsonObject): StatementClass {
  const kind = TRANSACTION_KINDS[String(body.kind)]
  if (kind === undefined) return classifyOther('TransactionStmt', body)
  const name = asString(body.savepoint_name) ?? asString(body.gid)
  const transaction: TransactionControl = {
    kind,
    ...transactionModes(body.options),
    ...(body.chain === true ? { chain: true } : {}),
    ...(name === undefined ? {} : { name }),
  }
  return transactionClass('TransactionStmt', transaction)
}

function classifyVariableSet(body: JsonObject, context: Context): StatementClass {
  const kind = 'VariableSetStmt'
  const name = String(body.name)
  const local = body.is_local === true
  switch (body.kind) {
    case 'VAR_SET_MULTI':
      if (name === 'TRANSACTION') return transactionClass(kind, { kind: 'set_transaction', ...transactionModes(body.args) })
      if (name === 'SESSION CHARACTERISTICS') {
        const session: SessionChange[] = [{ kind: 'session_characteristics', ...transactionModes(body.args), sql: context.sql() }]
        return statementClass(kind, 'read', 'SET SESSION CHARACTERISTICS changes the defaults of later transactions', { session })
      }
      return transactionClass(kind, { kind: 'set_transaction_snapshot' })
    case 'VAR_RESET_ALL':
      return statementClass(kind, 'read', 'RESET ALL returns every setting to its default', {
        session: [{ kind: 'reset_all', sql: context.sql() }],
      })
    case 'VAR_SET_VALUE': {
      const values = asList(body.args).map(constantText)
      const value = values.every((v) => v !== undefined) ? values.join(', ') : null
      return setClass(kind, name, value, local, false, context.sql())
    }
    case 'VAR_SET_CURRENT':
      return setClass(kind, name, null, local, false, context.sql())
    default:
      return setClass(kind, name, null, local, true, context.sql())
  }
}

const DISCARD_TARGETS = { DISCARD_ALL: 'all', DISCARD_PLANS: 'plans', DISCARD_SEQUENCES: 'sequences', DISCARD_TEMP: 'temp' } as const

const TEMPORARY_TARGETS: Record<string, (body: JsonObject) => [noun: string, rangeVar: unknown]> = {
  CreateStmt: (body) => ['table', body.relation],
  CreateTableAsStmt: (body) => ['table', asObject(body.into).rel],
  ViewStmt: (body) => ['view', body.view],
  CreateSeqStmt: (body) => ['sequence', body.sequence],
}
const DROPPED_RELATIONS = new Set(['OBJECT_TABLE', 'OBJECT_VIEW', 'OBJECT_MATVIEW', 'OBJECT_FOREIGN_TABLE'])
const DDL = /^(Create|Alter|Drop|Rename|Comment|Grant|Truncate|Index|View|Rule|Define|CompositeType|Sec|ReassignOwned|ImportForeignSchema)/
const MAINTENANCE = /^(Vacuum|Cluster|Reindex|CheckPoint|RefreshMatView)/

/** DDL, maintenance and statements this classifier does not know: all go to the primary. */
function classifyOther(kind: string, body: JsonObject): StatementClass {
  const tables = tablesOf(scanTree(body))
  if (kind === 'DropStmt' && DROPPED_RELATIONS.has(String(body.removeType))) {
    for (const object of asList(body.objects)) tables.push(relationName(asList(parseNode(object).body.items).map(stringValue)))
  }
  const temporary = TEMPORARY_TARGETS[kind]?.(body)
  const target = asObject(temporary?.[1])
  const pins = temporary !== undefined && isTemporary(target) ? temporaryPin(temporary[0], target) : null
  const reason = DDL.test(kind)
    ? `DDL (${kind}) runs on the primary`
    : MAINTENANCE.test(kind)
      ? `maintenance (${kind}) runs on the primary`
      : `${kind} is not known to be read-only; sent to the primary`
  return statementClass(kind, 'write', reason, { tables, pins })
}

function classifyStatement(statement: ParseNode, context: Context): StatementClass {
  const { kind, body } = statement
  switch (kind) {
    case 'SelectStmt':
      return classifySelect(body, context)
    case 'InsertStmt':
    case 'UpdateStmt':
    case 'DeleteStmt':
    case 'MergeStmt':
      return runs(kind, scanTree(body), 'write', DML_WRITES[kind], context)
    case 'CallStmt':
      return runs(kind, scanTree(body), 'write', 'CALL runs a procedure, which may write', context)
    case 'ExecuteStmt':
      return runs(kind, scanTree(body), 'write', 'EXECUTE runs a statement prepared by SQL PREPARE, on the primary', context)
    case 'DoStmt':
      return statementClass(kind, 'write', 'DO runs a code block, which may write')
    case 'ExplainStmt':
      return classifyExplain(body, context)
    case 'CopyStmt':
      return classifyCopy(body, context)
    case 'DeclareCursorStmt':
      return classifyDeclareCursor(body, context)
    case 'FetchStmt': {
      const verb = body.ismove === true ? 'MOVE moves' : 'FETCH reads'
      return statementClass(kind, 'read', `${verb} cursor ${String(body.portalname)} on the backend that declared it`)
    }
    case 'ClosePortalStmt':
      return statementClass(kind, 'read', `CLOSE ${asString(body.portalname) ?? 'ALL'} closes cursors on the backend that declared them`)
    case 'PrepareStmt': {
      const pins = `prepared statement ${String(body.name)} exists only on this backend`
      const tables = tablesOf(scanTree(body.query))
      return statementClass(kind, 'write', 'PREPARE runs on the primary, where EXECUTE will look for the statement', { tables, pins })
    }
    case 'DeallocateStmt':
      return statementClass(kind, 'write', 'DEALLOCATE drops a statement prepared by SQL PREPARE, on the primary')
    case 'TransactionStmt':
      return classifyTransaction(body)
    case 'ConstraintsSetStmt':
      return transactionClass(kind, { kind: 'set_constraints' })
    case 'VariableSetStmt':
      return classifyVariableSet(body, context)
    case 'VariableShowStmt':
      return showClass(kind, String(body.name))
    case 'DiscardStmt': {
      const what = DISCARD_TARGETS[String(body.target) as keyof typeof DISCARD_TARGETS]
      if (what === undefined) return classifyOther(kind, body)
      const session: SessionChange[] = [{ kind: 'discard', what, sql: context.sql() }]
      return statementClass(kind, 'read', `DISCARD ${what.toUpperCase()} drops session state`, { session })
    }
    case 'ListenStmt': {
      const channel = String(body.conditionname)
      const pins = `LISTEN ${channel}: notifications arrive on this backend only`
      return statementClass(kind, 'write', 'LISTEN runs on the primary (a standby cannot listen)', { pins })
    }
    case 'UnlistenStmt':
      return statementClass(kind, 'write', 'UNLISTEN runs on the primary, where the session listens')
    case 'NotifyStmt':
      return statementClass(kind, 'write', 'NOTIFY runs on the primary (a standby cannot notify)')
    case 'LockStmt':
      return statementClass(kind, 'write', 'LOCK takes table locks on the primary, where writers take theirs', {
        tables: tablesOf(scanTree(body)),
      })
    default:
      return classifyOther(kind, body)
  }
}

/** UTF-8 byte offsets (libpg-query's stmt_location and stmt_len) to the statement's text. */
function statementText(code: string, entry: JsonObject): string {
  const start = Number(entry.stmt_location ?? 0)
  const length = Number(entry.stmt_len ?? 0)
  const bytes = Buffer.from(code)
  return statementSql(bytes.toString('utf8', start, length === 0 ? bytes.length : start + length))
}

/**
 * Classifies libpg-query's parse of `code` (the comment-free text from lexSql): each statement on its own,
 * then merged. Unknown statement kinds write.
 */
export function classifyParseTree(tree: unknown, code: string, writing: WritingFunctions): StatementClass {
  const statements = asList(asObject(tree).stmts)
  return mergeStatementClasses(
    statements.map((raw) => {
      const entry = asObject(raw)
      const sql = (): string => (statements.length === 1 ? statementSql(code) : statementText(code, entry))
      return classifyStatement(parseNode(entry.stmt), { writing, sql })
    }),
  )
}
