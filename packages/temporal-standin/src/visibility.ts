/**
 * Visibility: `ListWorkflowExecutions`, `ScanWorkflowExecutions` and `CountWorkflowExecutions` over the runs the
 * engine holds, filtered by Temporal's SQL-like list query as the server's SQL visibility store (the dev server's
 * SQLite) reads it (temporalio/temporal common/persistence/visibility/store/query/converter.go and
 * store/sql/query_converter.go):
 *
 * - comparisons `=`, `!=`/`<>`, `<`, `<=`, `>`, `>=`, `IN (...)`, `NOT IN (...)`, `BETWEEN a AND b`, `STARTS_WITH`,
 *   `NOT STARTS_WITH`, `IS [NOT] NULL`, joined by `AND`, `OR`, `NOT` and parentheses, each operator only on the
 *   search attribute types the server allows it on;
 * - values checked against the attribute's type (Datetime as RFC 3339 or epoch nanoseconds, ExecutionStatus by name
 *   or number, ExecutionDuration as nanoseconds or a duration string);
 * - system attributes (WorkflowId, RunId, WorkflowType, TaskQueue, ExecutionStatus, StartTime, ExecutionTime,
 *   CloseTime, ExecutionDuration, HistoryLength, HistorySizeBytes, StateTransitionCount, ParentWorkflowId,
 *   ParentRunId, RootWorkflowId, RootRunId), the predefined Temporal* ones and the namespace's custom ones;
 * - `GROUP BY ExecutionStatus` on counts (groups keyed by the status name, as Keyword payloads); `ORDER BY` and
 *   `LIMIT` refused, as the SQL store refuses them;
 * - SQL's three-valued logic: a comparison with an absent attribute is unknown, so neither it nor its NOT matches.
 *
 * Lists are ordered as the SQL store orders them: open runs first, then by close time, start time (newest first),
 * run id; page tokens are keyset positions in that order. Bad queries answer INVALID_ARGUMENT "invalid query: ...".
 *
 * The parser and evaluator are generic over what is listed: a `QueryAttributes` says which columns a query may name
 * and what a record holds for each. Workflow lists use the runs' attributes below; ListSchedules its own set
 * (`schedule-query.ts`).
 */
import { decodePayload, enumName, invalidArgument, type Msg, num, protoRoot } from './proto';
import { type Run } from './run';

/** temporal.api.enums.v1.IndexedValueType */
export const VALUE_TYPE = { Unspecified: 0, Text: 1, Keyword: 2, Int: 3, Double: 4, Bool: 5, Datetime: 6, KeywordList: 7 } as const;
const TYPE_NAMES: Record<number, string> = { 1: 'Text', 2: 'Keyword', 3: 'Int', 4: 'Double', 5: 'Bool', 6: 'Datetime', 7: 'KeywordList' };

const SYSTEM_ATTRIBUTES: Record<string, number> = {
  WorkflowId: VALUE_TYPE.Keyword,
  RunId: VALUE_TYPE.Keyword,
  WorkflowType: VALUE_TYPE.Keyword,
  StartTime: VALUE_TYPE.Datetime,
  ExecutionTime: VALUE_TYPE.Datetime,
  CloseTime: VALUE_TYPE.Datetime,
  ExecutionStatus: VALUE_TYPE.Keyword,
  TaskQueue: VALUE_TYPE.Keyword,
  HistoryLength: VALUE_TYPE.Int,
  ExecutionDuration: VALUE_TYPE.Int,
  StateTransitionCount: VALUE_TYPE.Int,
  HistorySizeBytes: VALUE_TYPE.Int,
  ParentWorkflowId: VALUE_TYPE.Keyword,
  ParentRunId: VALUE_TYPE.Keyword,
  RootWorkflowId: VALUE_TYPE.Keyword,
  RootRunId: VALUE_TYPE.Keyword,
};

/** Search attributes the server defines itself, stored beside the custom ones. */
const PREDEFINED_ATTRIBUTES: Record<string, number> = {
  TemporalChangeVersion: VALUE_TYPE.KeywordList,
  BinaryChecksums: VALUE_TYPE.KeywordList,
  BuildIds: VALUE_TYPE.KeywordList,
  BatcherNamespace: VALUE_TYPE.Keyword,
  BatcherUser: VALUE_TYPE.Keyword,
  TemporalScheduledStartTime: VALUE_TYPE.Datetime,
  TemporalScheduledById: VALUE_TYPE.Keyword,
  TemporalSchedulePaused: VALUE_TYPE.Bool,
  TemporalNamespaceDivision: VALUE_TYPE.Keyword,
  TemporalPauseInfo: VALUE_TYPE.KeywordList,
  TemporalReportedProblems: VALUE_TYPE.KeywordList,
  TemporalWorkerDeploymentVersion: VALUE_TYPE.Keyword,
  TemporalWorkflowVersioningBehavior: VALUE_TYPE.Keyword,
  TemporalWorkerDeployment: VALUE_TYPE.Keyword,
  TemporalUsedWorkerDeploymentVersions: VALUE_TYPE.KeywordList,
};

/** ListSearchAttributes' `system_attributes`: the system and predefined ones, as the server lists them. */
export const SYSTEM_SEARCH_ATTRIBUTES: Readonly<Record<string, number>> = { ...SYSTEM_ATTRIBUTES, ...PREDEFINED_ATTRIBUTES };

/** Columns of the server's visibility records that are system attributes too, though no query can use them. */
const INTERNAL_COLUMNS = ['NamespaceId', 'Memo', 'Encoding', 'VisibilityTaskKey'];
const RESERVED_PREFIX = 'Temporal';

/** The server's searchattribute.IsReserved: a system or predefined name, or any name with the `Temporal` prefix. */
export const isReservedAttribute = (name: string) =>
  Object.hasOwn(SYSTEM_SEARCH_ATTRIBUTES, name) || INTERNAL_COLUMNS.includes(name) || name.startsWith(RESERVED_PREFIX);

const NAMESPACE_DIVISION = 'TemporalNamespaceDivision';
const GROUP_BY_ALLOWED = (field: string) => field === 'ExecutionStatus' || field === NAMESPACE_DIVISION || field.startsWith('TemporalLowCardinalityKeyword');

const OPERATORS = {
  comparison: ['=', '!=', '<', '>', '<=', '>=', 'in', 'not in'],
  keyword: ['=', '!=', '<', '>', '<=', '>=', 'in', 'not in', 'starts_with', 'not starts_with'],
  keywordList: ['=', '!=', 'in', 'not in'],
  text: ['=', '!='],
};
const RANGE_TYPES: number[] = [VALUE_TYPE.Datetime, VALUE_TYPE.Double, VALUE_TYPE.Int, VALUE_TYPE.Keyword];

const MALFORMED = 'malformed SQL query';
const NOT_SUPPORTED = 'operation is not supported';
const INVALID_EXPRESSION = 'invalid expression';

/** A query error, answered as the server words it: INVALID_ARGUMENT "invalid query: <message>". */
const queryError = (message: string) => invalidArgument(`invalid query: ${message}`);
/** The error for a column that names no search attribute. */
export const unknownAttribute = (alias: string) => queryError(`${INVALID_EXPRESSION}: column name '${alias}' is not a valid search attribute`);

// ---------------------------------------------------------------------------------------------------------------
// Values

/** A value as compared: Datetime as epoch nanoseconds (exact), numbers, strings, booleans; null when absent. */
type Scalar = string | number | boolean | bigint;
export type FieldValue = Scalar | Scalar[] | null;
/** Unknown (SQL NULL) is `null`. */
type Truth = boolean | null;
type Predicate<T> = (record: T) => Truth;

const STATUS_ENUM = 'temporal.api.enums.v1.WorkflowExecutionStatus';
/** WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW -> ContinuedAsNew, the names visibility queries use. */
const statusShortName = (value: number) =>
  enumName(STATUS_ENUM, value)
    .replace('WORKFLOW_EXECUTION_STATUS_', '')
    .toLowerCase()
    .replace(/(^|_)([a-z])/g, (_, _sep: string, letter: string) => letter.toUpperCase());

function statusValue(value: Scalar): number {
  const values = protoRoot.lookupEnum(STATUS_ENUM).values;
  if (typeof value === 'number') {
    if (Number.isInteger(value) && enumName(STATUS_ENUM, value) !== 'UNKNOWN') return value;
    throw queryError(`${INVALID_EXPRESSION}: invalid ExecutionStatus value ${value}`);
  }
  if (typeof value === 'string') {
    const full = values[value];
    if (full !== undefined) return full;
    for (const number of Object.values(values)) if (statusShortName(number) === value) return number;
    throw queryError(`${INVALID_EXPRESSION}: invalid ExecutionStatus value '${value}'`);
  }
  throw queryError(`${INVALID_EXPRESSION}: unexpected value type ${typeof value} for search attribute ExecutionStatus`);
}

const RFC3339 = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/;

/** An RFC 3339 timestamp (what Go's time.RFC3339Nano parses) as epoch nanoseconds; undefined if it is not one. */
export function parseDatetime(text: string): bigint | undefined {
  const match = RFC3339.exec(text);
  if (!match) return undefined;
  const ms = Date.parse(`${match[1]}${match[3]}`);
  if (Number.isNaN(ms)) return undefined;
  return BigInt(ms) * 1_000_000n + BigInt((match[2] ?? '').padEnd(9, '0'));
}

const msToNs = (ms: number) => BigInt(Math.round(ms)) * 1_000_000n;

const DURATION_UNITS: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
/** A Go duration string ("1h30m", "45s") or a clock-style "hh:mm:ss", in nanoseconds. */
function parseDurationNs(text: string): number | undefined {
  const clock = /^(\d+):(\d{2}):(\d{2})$/.exec(text);
  if (clock) return ((Number(clock[1]) * 60 + Number(clock[2])) * 60 + Number(clock[3])) * 1e9;
  if (!/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(text)) return undefined;
  let total = 0;
  for (const [, amount, unit] of text.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) total += Number(amount) * DURATION_UNITS[unit!]!;
  return total;
}

/** A search attribute's stored payload as compared, by its declared type. */
export function storedValue(payload: Msg | undefined, type: number): FieldValue {
  const decoded = payload ? decodePayload(payload) : undefined;
  if (decoded === undefined || decoded === null) return null;
  const one = (value: unknown): Scalar | null => {
    if (type === VALUE_TYPE.Datetime && typeof value === 'string') return parseDatetime(value) ?? null;
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
    return null;
  };
  if (Array.isArray(decoded)) return decoded.map(one).filter((value): value is Scalar => value !== null);
  return one(decoded);
}

// ---------------------------------------------------------------------------------------------------------------
// Columns

export interface Column {
  /** As written in the query (errors name it so). */
  alias: string;
  /** The attribute it resolves to. */
  field: string;
  type: number;
}

/** The columns a query may name over records of type T, and what a record holds for each. */
export interface QueryAttributes<T> {
  /** The column a name stands for; throws the server's error for a name it does not allow. */
  resolve(alias: string): Column;
  /** What a record holds for a column, normalized to the column's type; null when absent. */
  valueOf(record: T, column: Column): FieldValue;
}

/** A namespace's runs as workflow list queries see them, with its custom search attributes (name -> type). */
const workflowAttributes = (custom: ReadonlyMap<string, number>): QueryAttributes<Run> => ({
  resolve: (alias) => workflowColumn(alias, custom),
  valueOf: workflowValue,
});

/**
 * Resolves a column as the server does: a custom attribute, else a system or predefined one, else the same name
 * with the `Temporal` prefix added or removed (`ScheduleId` reads as WorkflowId).
 */
function workflowColumn(alias: string, custom: ReadonlyMap<string, number>): Column {
  const typeOf = (name: string) => custom.get(name) ?? SYSTEM_ATTRIBUTES[name] ?? PREDEFINED_ATTRIBUTES[name];
  const direct = typeOf(alias);
  if (direct !== undefined) return { alias, field: alias, type: direct };
  const stripped = alias.startsWith(RESERVED_PREFIX) ? alias.slice(RESERVED_PREFIX.length) : undefined;
  if ((stripped ?? alias) === 'ScheduleId') return { alias, field: 'WorkflowId', type: VALUE_TYPE.Keyword };
  const other = stripped ?? `${RESERVED_PREFIX}${alias}`;
  const otherType = typeOf(other);
  if (otherType !== undefined) return { alias, field: other, type: otherType };
  throw unknownAttribute(alias);
}

/** What a run holds for an attribute, normalized to the attribute's type. */
function workflowValue(run: Run, column: Column): FieldValue {
  switch (column.field) {
    case 'WorkflowId':
      return run.workflowId;
    case 'RunId':
      return run.runId;
    case 'WorkflowType':
      return String(run.workflowType.name ?? '');
    case 'TaskQueue':
      return run.taskQueue;
    case 'ExecutionStatus':
      return run.status;
    case 'StartTime':
      return msToNs(run.startTime);
    case 'ExecutionTime':
      return msToNs(run.firstTaskAt ?? run.startTime);
    case 'CloseTime':
      return run.closeTime !== undefined ? msToNs(run.closeTime) : null;
    case 'ExecutionDuration':
      return run.closeTime !== undefined ? Math.max(run.closeTime - (run.firstTaskAt ?? run.startTime), 0) * 1e6 : null;
    case 'HistoryLength':
    case 'StateTransitionCount':
      return run.history.length;
    case 'HistorySizeBytes':
      return run.history.length * 200;
    case 'ParentWorkflowId':
      return run.parent?.workflowId ?? null;
    case 'ParentRunId':
      return run.parent?.runId ?? null;
    case 'RootWorkflowId':
      return run.root.workflowId;
    case 'RootRunId':
      return run.root.runId;
    default:
      return storedValue(run.searchAttributes[column.field], column.type);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Tokens

interface Token {
  kind: 'word' | 'quoted-name' | 'string' | 'number' | 'symbol' | 'end';
  text: string;
  /** Offset in the query. */
  at: number;
}

function tokenize(query: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const fail = (at: number) => {
    throw queryError(`${MALFORMED}: syntax error at position ${at + 1} near '${query.slice(at, at + 10)}'`);
  };
  while (i < query.length) {
    const c = query[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const at = i;
    if (c === "'" || c === '"') {
      let text = '';
      i++;
      for (;;) {
        if (i >= query.length) fail(at);
        const d = query[i]!;
        if (d === '\\' && i + 1 < query.length) {
          const escaped = query[i + 1]!;
          text += ({ n: '\n', t: '\t', r: '\r', b: '\b', '0': '\0' } as Record<string, string>)[escaped] ?? escaped;
          i += 2;
        } else if (d === c && query[i + 1] === c) {
          text += c;
          i += 2;
        } else if (d === c) {
          i++;
          break;
        } else {
          text += d;
          i++;
        }
      }
      tokens.push({ kind: 'string', text, at });
    } else if (c === '`') {
      const end = query.indexOf('`', i + 1);
      if (end < 0) fail(at);
      tokens.push({ kind: 'quoted-name', text: query.slice(i + 1, end), at });
      i = end + 1;
    } else if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(query[i + 1] ?? '')) || (c === '-' && /[0-9.]/.test(query[i + 1] ?? ''))) {
      const match = /^-?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?/.exec(query.slice(i))!;
      tokens.push({ kind: 'number', text: match[0], at });
      i += match[0].length;
    } else if (/[A-Za-z_]/.test(c)) {
      const match = /^[A-Za-z0-9_$.]+/.exec(query.slice(i))!;
      tokens.push({ kind: 'word', text: match[0], at });
      i += match[0].length;
    } else {
      const symbol = ['<=>', '!=', '<>', '<=', '>=', '=', '<', '>', '(', ')', ','].find((s) => query.startsWith(s, i));
      if (!symbol) fail(at);
      tokens.push({ kind: 'symbol', text: symbol!, at });
      i += symbol!.length;
    }
  }
  tokens.push({ kind: 'end', text: '', at: query.length });
  return tokens;
}

// ---------------------------------------------------------------------------------------------------------------
// Parsing

/** A parsed value: a literal, a tuple, or something the server refuses as a value (a column, NULL). */
type ValueNode = { kind: 'literal'; value: Scalar } | { kind: 'tuple'; values: Scalar[] } | { kind: 'column'; name: string } | { kind: 'null' };

export interface CompiledQuery<T> {
  /** Whether a record matches the query's filter: true, not false or unknown. */
  matches(record: T): boolean;
  /** Every column the query names. */
  columns: Column[];
  /** `GROUP BY` columns (counts only). */
  groupBy: Column[];
  hasOrderBy: boolean;
}

/** Parses a list query over the records `attributes` describes. */
export function compileQuery<T>(query: string | undefined, attributes: QueryAttributes<T>): CompiledQuery<T> {
  const text = (query ?? '').trim();
  const tokens = tokenize(text);
  let position = 0;
  const columns: Column[] = [];
  const peek = (offset = 0) => tokens[Math.min(position + offset, tokens.length - 1)]!;
  const next = () => tokens[Math.min(position++, tokens.length - 1)]!;
  const isWord = (token: Token, word: string) => token.kind === 'word' && token.text.toLowerCase() === word;
  const acceptWord = (word: string) => (isWord(peek(), word) ? (position++, true) : false);
  const syntaxError = (token: Token): never => {
    throw queryError(`${MALFORMED}: syntax error at position ${token.at + 1} near '${token.text}'`);
  };
  const expectWord = (word: string) => {
    if (!acceptWord(word)) syntaxError(peek());
  };
  const expectSymbol = (symbol: string) => {
    const token = next();
    if (token.kind !== 'symbol' || token.text !== symbol) syntaxError(token);
  };
  const KEYWORDS = ['and', 'or', 'not', 'in', 'is', 'null', 'between', 'like', 'order', 'group', 'by', 'limit', 'starts_with', 'true', 'false', 'asc', 'desc'];
  const isName = (token: Token) => token.kind === 'quoted-name' || (token.kind === 'word' && !KEYWORDS.includes(token.text.toLowerCase()));

  const column = (): Column => {
    const token = next();
    if (!isName(token)) {
      if (token.kind === 'string' || token.kind === 'number') throw queryError(`${INVALID_EXPRESSION}: must be a column name but was *sqlparser.SQLVal`);
      syntaxError(token);
    }
    const resolved = attributes.resolve(token.text);
    columns.push(resolved);
    return resolved;
  };

  const value = (): ValueNode => {
    const token = next();
    if (token.kind === 'string') return { kind: 'literal', value: token.text };
    if (token.kind === 'number') {
      // Integers beyond a double's precision (epoch nanoseconds) stay exact.
      const exact = /^-?\d+$/.test(token.text) && !Number.isSafeInteger(Number(token.text));
      return { kind: 'literal', value: exact ? BigInt(token.text) : Number(token.text) };
    }
    if (isWord(token, 'true') || isWord(token, 'false')) return { kind: 'literal', value: token.text.toLowerCase() === 'true' };
    if (isWord(token, 'null')) return { kind: 'null' };
    if (isName(token)) return { kind: 'column', name: token.text };
    if (token.kind === 'symbol' && token.text === '(') {
      const values: Scalar[] = [];
      for (;;) {
        const item = value();
        if (item.kind !== 'literal') return rejectValue(item);
        values.push(item.value);
        const separator = next();
        if (separator.kind === 'symbol' && separator.text === ')') break;
        if (separator.kind !== 'symbol' || separator.text !== ',') syntaxError(separator);
      }
      return { kind: 'tuple', values };
    }
    return syntaxError(token);
  };

  const rejectValue = (node: ValueNode): never => {
    if (node.kind === 'column') {
      throw queryError(`${NOT_SUPPORTED}: column name on the right side of comparison expression (did you forget to quote "${node.name}"?)`);
    }
    throw queryError(`${INVALID_EXPRESSION}: unexpected value type ${node.kind === 'null' ? '*sqlparser.NullVal' : 'sqlparser.ValTuple'}`);
  };

  /** Checks a literal against the column's type and normalizes it for comparison. */
  const typed = (col: Column, raw: Scalar): Scalar => {
    if (col.field === 'ExecutionStatus') return statusValue(raw);
    if (col.field === 'ExecutionDuration') {
      if (typeof raw === 'number' || typeof raw === 'bigint') return Number(raw);
      const ns = typeof raw === 'string' ? parseDurationNs(raw) : undefined;
      if (ns === undefined) throw queryError(`${INVALID_EXPRESSION}: invalid duration value for search attribute ExecutionDuration: ${String(raw)}`);
      return ns;
    }
    const mismatch = () =>
      queryError(
        `${INVALID_EXPRESSION}: invalid value type for search attribute ${col.alias} of type ${TYPE_NAMES[col.type]}: ${typeof raw === 'bigint' ? raw.toString() : JSON.stringify(raw)} (type: ${typeof raw === 'bigint' || (typeof raw === 'number' && Number.isInteger(raw)) ? 'int64' : typeof raw === 'number' ? 'float64' : typeof raw})`,
      );
    switch (col.type) {
      case VALUE_TYPE.Int:
      case VALUE_TYPE.Double:
        if (typeof raw === 'bigint') return Number(raw);
        if (typeof raw !== 'number') throw mismatch();
        return raw;
      case VALUE_TYPE.Bool:
        if (typeof raw !== 'boolean') throw mismatch();
        return raw;
      case VALUE_TYPE.Datetime: {
        if (typeof raw === 'bigint') return raw;
        if (typeof raw === 'number' && Number.isInteger(raw)) return BigInt(raw);
        if (typeof raw !== 'string') throw mismatch();
        const ns = parseDatetime(raw);
        if (ns === undefined) throw queryError(`${INVALID_EXPRESSION}: unable to parse datetime '${raw}'`);
        return ns;
      }
      default:
        if (typeof raw !== 'string') throw mismatch();
        return raw;
    }
  };

  const literalOf = (col: Column, node: ValueNode): Scalar => (node.kind === 'literal' ? typed(col, node.value) : rejectValue(node));
  const tupleOf = (col: Column, node: ValueNode): Scalar[] => {
    if (node.kind === 'tuple') return node.values.map((item) => typed(col, item));
    if (node.kind === 'literal') return syntaxError(peek(-1));
    return rejectValue(node);
  };

  const checkOperator = (col: Column, operator: string) => {
    const allowed =
      col.type === VALUE_TYPE.Keyword ? OPERATORS.keyword : col.type === VALUE_TYPE.KeywordList ? OPERATORS.keywordList : col.type === VALUE_TYPE.Text ? OPERATORS.text : OPERATORS.comparison;
    if (!allowed.includes(operator)) {
      throw queryError(`${NOT_SUPPORTED}: operator '${operator.toUpperCase()}' not supported for ${TYPE_NAMES[col.type]} type search attribute '${col.alias}'`);
    }
    if ((operator === 'starts_with' || operator === 'not starts_with') && col.field === 'ExecutionStatus') {
      throw queryError(`${INVALID_EXPRESSION}: right-hand side of "${operator}" operator must be a literal string`);
    }
  };

  const predicate = (): Predicate<T> => {
    if (peek().kind === 'symbol' && peek().text === '(') {
      next();
      const inner = orExpression();
      expectSymbol(')');
      return inner;
    }
    const col = column();
    const valueOf = (record: T) => attributes.valueOf(record, col);
    const token = peek();
    if (isWord(token, 'is')) {
      next();
      const negated = acceptWord('not');
      if (isWord(peek(), 'true') || isWord(peek(), 'false')) {
        throw queryError(`${INVALID_EXPRESSION}: 'IS' operator can only be used as 'IS NULL' or 'IS NOT NULL'`);
      }
      expectWord('null');
      return (record) => isNull(valueOf(record)) !== negated;
    }
    const negated = isWord(token, 'not') && ['between', 'in', 'like', 'starts_with'].some((word) => isWord(peek(1), word)) ? (next(), true) : false;
    if (acceptWord('between')) {
      if (!RANGE_TYPES.includes(col.type)) {
        throw queryError(`${INVALID_EXPRESSION}: cannot do range condition on search attribute '${col.alias}' of type ${TYPE_NAMES[col.type]}`);
      }
      const from = literalOf(col, value());
      expectWord('and');
      const to = literalOf(col, value());
      return (record) => not(anyOf(valueOf(record), (actual) => and([compare(actual, '>=', from), compare(actual, '<=', to)])), negated);
    }
    let operator: string;
    if (acceptWord('in')) operator = negated ? 'not in' : 'in';
    else if (acceptWord('like')) operator = negated ? 'not like' : 'like';
    else if (acceptWord('starts_with')) operator = negated ? 'not starts_with' : 'starts_with';
    else if (token.kind === 'symbol' && ['=', '!=', '<>', '<', '<=', '>', '>=', '<=>'].includes(token.text)) {
      next();
      operator = token.text === '<>' ? '!=' : token.text;
    } else if (token.kind === 'end' || isWord(token, 'and') || isWord(token, 'or') || (token.kind === 'symbol' && token.text === ')')) {
      throw queryError(`${INVALID_EXPRESSION}: incomplete expression`);
    } else {
      return syntaxError(token);
    }
    checkOperator(col, operator);
    if (operator === 'in' || operator === 'not in') {
      const values = tupleOf(col, value());
      return membership(col, valueOf, values, operator === 'not in');
    }
    const expected = literalOf(col, value());
    if (operator === 'starts_with' || operator === 'not starts_with') {
      const prefix = String(expected);
      return (record) => not(anyOf(valueOf(record), (actual) => typeof actual === 'string' && actual.startsWith(prefix)), operator === 'not starts_with');
    }
    if (col.type === VALUE_TYPE.KeywordList) return membership(col, valueOf, [expected], operator === '!=');
    if (col.type === VALUE_TYPE.Text) return textMatch(valueOf, String(expected), operator === '!=');
    return (record) => anyOf(valueOf(record), (actual) => compare(actual, operator, expected));
  };

  const notExpression = (): Predicate<T> => {
    if (isWord(peek(), 'not')) {
      next();
      const inner = notExpression();
      return (record) => not(inner(record), true);
    }
    return predicate();
  };

  const andExpression = (): Predicate<T> => {
    const parts = [notExpression()];
    while (acceptWord('and')) parts.push(notExpression());
    return parts.length === 1 ? parts[0]! : (record) => and(parts.map((part) => part(record)));
  };

  const orExpression = (): Predicate<T> => {
    const parts = [andExpression()];
    while (acceptWord('or')) parts.push(andExpression());
    return parts.length === 1 ? parts[0]! : (record) => or(parts.map((part) => part(record)));
  };

  const startsClause = (word: string) => isWord(peek(), word) && isWord(peek(1), 'by');
  let filter: Predicate<T> = () => true;
  if (peek().kind !== 'end' && !startsClause('group') && !startsClause('order')) filter = orExpression();

  const groupBy: Column[] = [];
  if (startsClause('group')) {
    position += 2;
    do groupBy.push(column());
    while (peek().kind === 'symbol' && peek().text === ',' && next());
    if (groupBy.length > 1) throw queryError(`${NOT_SUPPORTED}: 'GROUP BY' clause supports only a single field`);
    const [group] = groupBy;
    if (!GROUP_BY_ALLOWED(group!.field)) throw queryError(`${NOT_SUPPORTED}: 'GROUP BY' clause is not supported for search attribute ${group!.alias}`);
  }
  let hasOrderBy = false;
  if (startsClause('order')) {
    position += 2;
    hasOrderBy = true;
    do {
      const col = column();
      if (col.type === VALUE_TYPE.Text) throw queryError(`${NOT_SUPPORTED}: unable to sort by search attribute type Text`);
      if (!acceptWord('asc')) acceptWord('desc');
    } while (peek().kind === 'symbol' && peek().text === ',' && next());
  }
  if (isWord(peek(), 'limit')) throw queryError(`${NOT_SUPPORTED}: 'LIMIT' clause`);
  if (peek().kind !== 'end') syntaxError(peek());
  return { matches: (record) => filter(record) === true, columns, groupBy, hasOrderBy };
}

/** The filter of a list (not a count): ORDER BY and GROUP BY refused, as the SQL store refuses them. */
export function listFilter<T>(query: CompiledQuery<T>): (record: T) => boolean {
  if (query.hasOrderBy) throw queryError(`${NOT_SUPPORTED}: 'ORDER BY' clause`);
  if (query.groupBy.length > 0) throw queryError(`${NOT_SUPPORTED}: 'GROUP BY' clause`);
  return query.matches;
}

// ---------------------------------------------------------------------------------------------------------------
// Three-valued logic

const isNull = (value: FieldValue) => value === null || (Array.isArray(value) && value.length === 0);
const not = (value: Truth, negate: boolean): Truth => (value === null || !negate ? value : !value);
function and(values: Truth[]): Truth {
  if (values.includes(false)) return false;
  return values.includes(null) ? null : true;
}
function or(values: Truth[]): Truth {
  if (values.includes(true)) return true;
  return values.includes(null) ? null : false;
}

/** A comparison over a possibly multi-valued attribute: true if any value satisfies it; unknown when absent. */
function anyOf(value: FieldValue, test: (actual: Scalar) => Truth): Truth {
  if (value === null || (Array.isArray(value) && value.length === 0)) return null;
  return or((Array.isArray(value) ? value : [value]).map(test));
}

function compare(actual: Scalar, operator: string, expected: Scalar): Truth {
  // A stored value of another type than the attribute's (a list where a keyword was declared) never equals.
  if (typeof actual !== typeof expected) return operator === '!=';
  const [a, b] = [actual, expected];
  switch (operator) {
    case '=':
    case '<=>':
      return a === b;
    case '!=':
      return a !== b;
    case '<':
      return a < b;
    case '<=':
      return a <= b;
    case '>':
      return a > b;
    case '>=':
      return a >= b;
    default:
      return false;
  }
}

/**
 * IN / NOT IN. On scalar attributes an absent value is unknown. On KeywordList (and Text) attributes the SQLite store
 * tests row membership in a full-text match, so an absent list simply does not contain the values: NOT IN is true.
 */
function membership<T>(col: Column, valueOf: (record: T) => FieldValue, values: Scalar[], negate: boolean): Predicate<T> {
  return (record) => {
    const actual = valueOf(record);
    if (col.type === VALUE_TYPE.KeywordList) {
      const list = actual === null ? [] : Array.isArray(actual) ? actual : [actual];
      return list.some((item) => values.includes(item)) !== negate;
    }
    return not(
      anyOf(actual, (item) => values.some((value) => compare(item, '=', value) === true)),
      negate,
    );
  };
}

/** Text attributes match on words: every word of the value appears in the attribute (a full-text match). */
function textMatch<T>(valueOf: (record: T) => FieldValue, expected: string, negate: boolean): Predicate<T> {
  const words = (text: string) => text.toLowerCase().split(/[^\p{L}\p{N}]+/u).filter(Boolean);
  const wanted = words(expected);
  if (wanted.length === 0) throw queryError(`${INVALID_EXPRESSION}: unexpected value for Text type search attribute (no tokens found)`);
  return (record) => {
    const actual = valueOf(record);
    const have = new Set((actual === null ? [] : Array.isArray(actual) ? actual : [actual]).flatMap((item) => words(String(item))));
    return wanted.every((word) => have.has(word)) !== negate;
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The RPCs

/** The engine's side of visibility: the runs of a namespace, its custom attributes, and how a run is listed. */
export interface VisibilitySource {
  allRuns(namespace: string): Run[];
  namespace(name: string): { searchAttributes: ReadonlyMap<string, number> };
  executionInfo(run: Run): Msg;
}

const MAX_TIME = Number.MAX_SAFE_INTEGER;
interface PagePosition {
  closeTime: number;
  startTime: number;
  runId: string;
}
const positionOf = (run: Run): PagePosition => ({ closeTime: run.closeTime ?? MAX_TIME, startTime: run.startTime, runId: run.runId });
/** The SQL store's order: COALESCE(close_time, max) DESC, start_time DESC, run_id ASC. */
function byListOrder(a: PagePosition, b: PagePosition): number {
  return b.closeTime - a.closeTime || b.startTime - a.startTime || (a.runId < b.runId ? -1 : a.runId > b.runId ? 1 : 0);
}

function decodePageToken(token: Uint8Array | null | undefined): PagePosition | undefined {
  if (!token || token.length === 0) return undefined;
  try {
    const position = JSON.parse(Buffer.from(token).toString()) as PagePosition;
    if (typeof position.closeTime === 'number' && typeof position.startTime === 'number' && typeof position.runId === 'string') return position;
  } catch {
    // answered below
  }
  throw invalidArgument('unable to deserialize page token');
}

const DIVISION_COLUMN: Column = { alias: NAMESPACE_DIVISION, field: NAMESPACE_DIVISION, type: VALUE_TYPE.Keyword };

/** The request's query over the namespace's runs. */
function compileFor(source: VisibilitySource, request: Msg): CompiledQuery<Run> {
  const query = compileQuery(request.query as string | undefined, workflowAttributes(source.namespace((request.namespace as string) || 'default').searchAttributes));
  // Runs of a namespace division (a CHASM archetype, the old scheduler workflows) stay out unless asked for.
  if (query.columns.some((column) => column.field === NAMESPACE_DIVISION)) return query;
  return { ...query, matches: (run) => isNull(workflowValue(run, DIVISION_COLUMN)) && query.matches(run) };
}

/** ListWorkflowExecutions and ScanWorkflowExecutions. */
export function listWorkflowExecutions(source: VisibilitySource, request: Msg): Msg {
  const matches = listFilter(compileFor(source, request));
  const after = decodePageToken(request.nextPageToken);
  const pageSize = num(request.pageSize) > 0 ? num(request.pageSize) : 1000;
  const page = source
    .allRuns((request.namespace as string) || 'default')
    .filter((run) => matches(run) && (!after || byListOrder(after, positionOf(run)) < 0))
    .sort((a, b) => byListOrder(positionOf(a), positionOf(b)))
    .slice(0, pageSize);
  // As the SQL store: a full page carries a token (the next page may be empty).
  const last = page.length === pageSize ? page[page.length - 1] : undefined;
  return {
    executions: page.map((run) => source.executionInfo(run)),
    nextPageToken: last ? Buffer.from(JSON.stringify(positionOf(last))) : Buffer.alloc(0),
  };
}

/** CountWorkflowExecutions, with `GROUP BY ExecutionStatus` (or another groupable attribute). */
export function countWorkflowExecutions(source: VisibilitySource, request: Msg): Msg {
  const query = compileFor(source, request);
  if (query.hasOrderBy) throw queryError(`${NOT_SUPPORTED}: 'ORDER BY' clause`);
  const runs = source.allRuns((request.namespace as string) || 'default').filter(query.matches);
  const [group] = query.groupBy;
  if (!group) return { count: runs.length };
  const counts = new Map<string | number, number>();
  for (const run of runs) {
    const value = workflowValue(run, group);
    // An absent value groups as the empty string, as the server reports runs without a namespace division.
    const key = value === null ? '' : Array.isArray(value) ? value.join(',') : typeof value === 'number' ? value : String(value);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const groups = [...counts.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, count]) => ({
      // The server encodes each group value as a search attribute payload of the column's type; statuses by name.
      groupValues: [keywordPayload(group.field === 'ExecutionStatus' ? statusShortName(key as number) : key, group.type)],
      count,
    }));
  return { count: runs.length, groups };
}

function keywordPayload(value: string | number, type: number): Msg {
  return {
    metadata: { encoding: Buffer.from('json/plain'), type: Buffer.from(TYPE_NAMES[type] ?? 'Keyword') },
    data: Buffer.from(JSON.stringify(value)),
  };
}
