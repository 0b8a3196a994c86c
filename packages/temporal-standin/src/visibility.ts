/**
 * The list filter of `ListWorkflowExecutions` / `CountWorkflowExecutions`: a small subset of Temporal's SQL-like
 * visibility queries. Comparisons (=, !=, >, >=, <, <=, STARTS_WITH, IN (...), IS NULL, IS NOT NULL) on
 * WorkflowId, WorkflowType, RunId, ExecutionStatus, TaskQueue, StartTime, CloseTime and any search attribute,
 * joined by AND / OR with parentheses; ORDER BY is accepted and ignored (results are newest first).
 */
import { decodePayload, invalidArgument } from './proto';
import { type Run, Status } from './run';

type Value = string | number | boolean | null;
type Predicate = (run: Run) => boolean;

const STATUS_NAMES: Record<string, number> = {
  Running: Status.Running,
  Completed: Status.Completed,
  Failed: Status.Failed,
  Canceled: Status.Canceled,
  Terminated: Status.Terminated,
  ContinuedAsNew: Status.ContinuedAsNew,
  TimedOut: Status.TimedOut,
};

function fieldValue(run: Run, field: string): Value | Value[] {
  switch (field) {
    case 'WorkflowId':
      return run.workflowId;
    case 'RunId':
      return run.runId;
    case 'WorkflowType':
      return String(run.workflowType.name ?? '');
    case 'ExecutionStatus':
      return Object.keys(STATUS_NAMES).find((name) => STATUS_NAMES[name] === run.status) ?? null;
    case 'TaskQueue':
      return run.taskQueue;
    case 'StartTime':
      return new Date(run.startTime).toISOString();
    case 'CloseTime':
      return run.closeTime ? new Date(run.closeTime).toISOString() : null;
    default: {
      const payload = run.searchAttributes[field];
      const value = payload ? decodePayload(payload) : null;
      if (Array.isArray(value)) return value as Value[];
      return (value ?? null) as Value;
    }
  }
}

function compare(left: Value, op: string, right: Value): boolean {
  if (left === null) return false;
  const a = typeof left === 'string' && typeof right === 'string' && isDate(left) && isDate(right) ? Date.parse(left) : left;
  const b = typeof left === 'string' && typeof right === 'string' && isDate(left) && isDate(right) ? Date.parse(right) : right;
  switch (op) {
    case '=':
      return a === b;
    case '!=':
      return a !== b;
    case '>':
      return (a as number) > (b as number);
    case '>=':
      return (a as number) >= (b as number);
    case '<':
      return (a as number) < (b as number);
    case '<=':
      return (a as number) <= (b as number);
    case 'STARTS_WITH':
      return typeof a === 'string' && typeof b === 'string' && a.startsWith(b);
    default:
      return false;
  }
}

const isDate = (text: string) => /^\d{4}-\d{2}-\d{2}T/.test(text);

/** Splits a query into tokens: quoted strings, operators, parentheses, commas, words. */
function tokenize(query: string): string[] {
  const tokens: string[] = [];
  const pattern = /\s*('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|`[^`]*`|!=|>=|<=|=|>|<|\(|\)|,|[^\s=!<>(),]+)/gy;
  let match: RegExpExecArray | null;
  while ((match = pattern.exec(query)) !== null) tokens.push(match[1]!);
  if (pattern.lastIndex < query.trimEnd().length && tokens.join('').length === 0) throw invalidArgument(`invalid query: ${query}`);
  return tokens;
}

export function parseVisibilityQuery(query: string | undefined): Predicate {
  const text = (query ?? '').replace(/\s+order\s+by\s+.*$/i, '').trim();
  if (!text) return () => true;
  const tokens = tokenize(text);
  let position = 0;
  const peek = () => tokens[position];
  const next = () => {
    const token = tokens[position++];
    if (token === undefined) throw invalidArgument(`invalid query: unexpected end of "${text}"`);
    return token;
  };
  const keyword = (word: string) => peek()?.toUpperCase() === word;

  const literal = (token: string): Value => {
    if (/^'.*'$|^".*"$/.test(token)) return token.slice(1, -1).replace(/\\(.)/g, '$1');
    if (/^-?\d+(\.\d+)?$/.test(token)) return Number(token);
    if (/^(true|false)$/i.test(token)) return token.toLowerCase() === 'true';
    throw invalidArgument(`invalid query value ${token}`);
  };

  const comparison = (): Predicate => {
    if (peek() === '(') {
      next();
      const inner = orExpression();
      if (next() !== ')') throw invalidArgument('invalid query: missing )');
      return inner;
    }
    const field = next().replace(/^`|`$/g, '');
    if (keyword('IS')) {
      next();
      const negate = keyword('NOT') ? (next(), true) : false;
      if (next().toUpperCase() !== 'NULL') throw invalidArgument('invalid query: expected NULL');
      return (run) => (fieldValue(run, field) === null) !== negate;
    }
    const negateIn = keyword('NOT') ? (next(), true) : false;
    if (keyword('IN')) {
      next();
      if (next() !== '(') throw invalidArgument('invalid query: expected ( after IN');
      const values: Value[] = [];
      for (;;) {
        values.push(literal(next()));
        const separator = next();
        if (separator === ')') break;
        if (separator !== ',') throw invalidArgument('invalid query: expected , or )');
      }
      return (run) => {
        const actual = fieldValue(run, field);
        const found = Array.isArray(actual) ? actual.some((v) => values.includes(v)) : values.includes(actual);
        return found !== negateIn;
      };
    }
    const op = next().toUpperCase();
    if (!['=', '!=', '>', '>=', '<', '<=', 'STARTS_WITH'].includes(op)) throw invalidArgument(`invalid query operator ${op}`);
    const expected = literal(next());
    if (field === 'ExecutionStatus' && typeof expected === 'string' && !(expected in STATUS_NAMES)) {
      throw invalidArgument(`invalid ExecutionStatus ${expected}`);
    }
    return (run) => {
      const actual = fieldValue(run, field);
      return Array.isArray(actual) ? actual.some((v) => compare(v, op, expected)) : compare(actual, op, expected);
    };
  };

  const andExpression = (): Predicate => {
    let left = comparison();
    while (keyword('AND')) {
      next();
      const right = comparison();
      const l = left;
      left = (run) => l(run) && right(run);
    }
    return left;
  };

  const orExpression = (): Predicate => {
    let left = andExpression();
    while (keyword('OR')) {
      next();
      const right = andExpression();
      const l = left;
      left = (run) => l(run) || right(run);
    }
    return left;
  };

  const predicate = orExpression();
  if (position !== tokens.length) throw invalidArgument(`invalid query near "${tokens.slice(position).join(' ')}"`);
  return predicate;
}
