/**
 * Canonical proto3 JSON (https://protobuf.dev/programming-guides/json/) over the protobufjs reflection that
 * @temporalio/proto ships, as grpc-gateway speaks it for Temporal's HTTP API: lowerCamel field names (proto names
 * accepted on input), int64 as strings, enum names, bytes as base64, Timestamp/Duration/FieldMask/wrappers/Struct/Any
 * in their JSON forms, default values left out. Payloads can take Temporal's "shorthand" (a plain JSON value for a
 * json/plain payload, an array for Payloads), always accepted on input and written only when asked for, as
 * Temporal's server does; its UI server never writes it, and the UI expects the full form.
 */
import { invalidArgument, type Msg, protoRoot } from './proto';

interface ReflectedEnum {
  fullName: string;
  values: Record<string, number>;
  valuesById: Record<number, string>;
}
interface ReflectedField {
  name: string;
  type: string;
  repeated: boolean;
  map: boolean;
  keyType?: string;
  partOf: unknown;
  resolvedType: ReflectedMessage | ReflectedEnum | null;
  resolve(): ReflectedField;
}
export interface ReflectedMessage {
  fullName: string;
  fieldsArray: ReflectedField[];
  fields: Record<string, ReflectedField>;
  encode(message: Msg): { finish(): Uint8Array };
  decode(bytes: Uint8Array): Msg;
}

export interface JsonOptions {
  /** Write json/plain and json/protobuf payloads as plain JSON values (Temporal's server HTTP API default). */
  payloadShorthand?: boolean;
}

const PAYLOAD = '.temporal.api.common.v1.Payload';
const PAYLOADS = '.temporal.api.common.v1.Payloads';
const WRAPPERS = new Set(['DoubleValue', 'FloatValue', 'Int64Value', 'UInt64Value', 'Int32Value', 'UInt32Value', 'BoolValue', 'StringValue', 'BytesValue'].map((name) => `.google.protobuf.${name}`));
const LONG_TYPES = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);
const INT_TYPES = new Set(['int32', 'uint32', 'sint32', 'fixed32', 'sfixed32']);

export const lookupMessage = (name: string): ReflectedMessage => protoRoot.lookupType(name) as unknown as ReflectedMessage;

const snakeCase = (name: string) => name.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
export const camelCase = (name: string) => name.replace(/_([a-z0-9])/g, (_, letter: string) => letter.toUpperCase());

function resolved(field: ReflectedField): ReflectedField {
  if (!field.resolvedType && !isScalar(field.type)) field.resolve();
  return field;
}
const isScalar = (type: string) => ['double', 'float', 'bool', 'string', 'bytes'].includes(type) || LONG_TYPES.has(type) || INT_TYPES.has(type);
const isEnum = (type: ReflectedField['resolvedType']): type is ReflectedEnum => Boolean(type && 'values' in type && !('fieldsArray' in type));

/** The field named `name` (lowerCamel JSON name or proto name) of `type`. */
export function fieldOf(type: ReflectedMessage, name: string): ReflectedField | undefined {
  const field = type.fields[camelCase(name)];
  return field ? resolved(field) : undefined;
}

// ---------------------------------------------------------------- to JSON

export function messageToJson(type: ReflectedMessage, message: Msg, options: JsonOptions = {}): unknown {
  const special = wellKnownToJson(type, message, options);
  if (special !== undefined) return special;
  const json: Record<string, unknown> = {};
  for (const field of type.fieldsArray) {
    const value = message[field.name];
    if (value === undefined || value === null) continue;
    resolved(field);
    if (field.map) {
      const entries = Object.entries(value as Record<string, unknown>);
      if (entries.length === 0) continue;
      json[field.name] = Object.fromEntries(entries.map(([key, item]) => [key, valueToJson(field, item, options)]));
    } else if (field.repeated) {
      if ((value as unknown[]).length === 0) continue;
      json[field.name] = (value as unknown[]).map((item) => valueToJson(field, item, options));
    } else {
      // Oneof members and proto3 `optional` fields have presence; the others are left out at their default.
      if (field.partOf ? !Object.prototype.hasOwnProperty.call(message, field.name) : isDefault(field, value)) continue;
      json[field.name] = valueToJson(field, value, options);
    }
  }
  return json;
}

function isDefault(field: ReflectedField, value: unknown): boolean {
  if (field.resolvedType && !isEnum(field.resolvedType)) return false;
  if (typeof value === 'object' && value !== null && 'low' in value && 'high' in value) return (value as { low: number; high: number }).low === 0 && (value as { high: number }).high === 0;
  if (value instanceof Uint8Array) return value.length === 0;
  return value === 0 || value === '' || value === false;
}

function valueToJson(field: ReflectedField, value: unknown, options: JsonOptions): unknown {
  const type = field.resolvedType;
  if (isEnum(type)) {
    if (type.fullName === '.google.protobuf.NullValue') return null;
    return type.valuesById[value as number] ?? value;
  }
  if (type) return messageToJson(type, value as Msg, options);
  return scalarToJson(field.type, value);
}

function scalarToJson(type: string, value: unknown): unknown {
  if (LONG_TYPES.has(type)) return String(value);
  if (type === 'bytes') return Buffer.from(value as Uint8Array).toString('base64');
  if ((type === 'double' || type === 'float') && !Number.isFinite(value)) return String(value);
  return value;
}

function wellKnownToJson(type: ReflectedMessage, message: Msg, options: JsonOptions): unknown {
  switch (type.fullName) {
    case '.google.protobuf.Timestamp':
      return timestampToJson(message);
    case '.google.protobuf.Duration': {
      const seconds = BigInt(String(message.seconds ?? 0));
      const nanos = Number(message.nanos ?? 0);
      const negative = seconds < 0n || nanos < 0;
      const abs = (seconds < 0n ? -seconds : seconds).toString();
      return `${negative ? '-' : ''}${abs}${fraction(Math.abs(nanos))}s`;
    }
    case '.google.protobuf.FieldMask':
      return ((message.paths ?? []) as string[]).map((path) => path.split('.').map(camelCase).join('.')).join(',');
    case '.google.protobuf.Struct':
      return Object.fromEntries(Object.entries((message.fields ?? {}) as Record<string, Msg>).map(([key, value]) => [key, structValueToJson(value)]));
    case '.google.protobuf.Value':
      return structValueToJson(message);
    case '.google.protobuf.ListValue':
      return ((message.values ?? []) as Msg[]).map(structValueToJson);
    case '.google.protobuf.Empty':
      return {};
    case '.google.protobuf.Any': {
      const url = String(message.typeUrl ?? message.type_url ?? '');
      const inner = lookupMessage(url.slice(url.lastIndexOf('/') + 1));
      const json = messageToJson(inner, inner.decode(message.value ?? new Uint8Array()), options);
      return typeof json === 'object' && json !== null && !Array.isArray(json) && !isWellKnown(inner) ? { '@type': url, ...json } : { '@type': url, value: json };
    }
    case PAYLOADS: {
      if (!options.payloadShorthand) return undefined;
      const values = ((message.payloads ?? []) as Msg[]).map(payloadShorthand);
      return values.every((value) => value.handled) ? values.map((value) => value.json) : undefined;
    }
    case PAYLOAD: {
      if (!options.payloadShorthand) return undefined;
      const value = payloadShorthand(message);
      return value.handled ? value.json : undefined;
    }
  }
  if (WRAPPERS.has(type.fullName)) return scalarToJson(type.fields.value!.type, message.value ?? (type.fields.value!.type === 'string' ? '' : 0));
  return undefined;
}

const isWellKnown = (type: ReflectedMessage) => type.fullName.startsWith('.google.protobuf.');

function timestampToJson(message: Msg): string {
  const seconds = Number(String(message.seconds ?? 0));
  const nanos = Number(message.nanos ?? 0);
  return `${new Date(seconds * 1000).toISOString().slice(0, 19)}${fraction(nanos)}Z`;
}

/** 0, 3, 6 or 9 fractional digits, as the canonical mapping writes them. */
function fraction(nanos: number): string {
  if (!nanos) return '';
  const digits = String(nanos).padStart(9, '0');
  if (digits.endsWith('000000')) return `.${digits.slice(0, 3)}`;
  if (digits.endsWith('000')) return `.${digits.slice(0, 6)}`;
  return `.${digits}`;
}

function structValueToJson(value: Msg): unknown {
  const has = (kind: string) => Object.prototype.hasOwnProperty.call(value, kind) && value[kind] !== null && value[kind] !== undefined;
  if (has('structValue')) return wellKnownToJson(lookupMessage('google.protobuf.Struct'), value.structValue, {});
  if (has('listValue')) return ((value.listValue.values ?? []) as Msg[]).map(structValueToJson);
  if (has('stringValue')) return value.stringValue;
  if (has('numberValue')) return value.numberValue;
  if (has('boolValue')) return value.boolValue;
  return null;
}

/** Temporal's shorthand: binary/null as null, json/plain as its JSON, json/protobuf as its JSON plus _protoMessageType. */
function payloadShorthand(payload: Msg): { handled: boolean; json?: unknown } {
  const metadata = (payload.metadata ?? {}) as Record<string, Uint8Array>;
  const text = (key: string) => (metadata[key] ? Buffer.from(metadata[key]).toString() : '');
  const keys = Object.keys(metadata).length;
  try {
    if (text('encoding') === 'binary/null') return { handled: true, json: null };
    if (text('encoding') === 'json/plain' && keys === 1) return { handled: true, json: JSON.parse(Buffer.from(payload.data ?? []).toString()) };
    if (text('encoding') === 'json/protobuf' && text('messageType') && keys === 2) {
      return { handled: true, json: { ...(JSON.parse(Buffer.from(payload.data ?? []).toString()) as object), _protoMessageType: text('messageType') } };
    }
  } catch {
    // Not valid JSON after all: the full form says what it is.
  }
  return { handled: false };
}

// ---------------------------------------------------------------- from JSON

/** A JSON request body (or part of one) -> an object protobufjs encodes as `type`. Unknown fields are rejected. */
export function messageFromJson(type: ReflectedMessage, json: unknown, path = ''): Msg {
  const special = wellKnownFromJson(type, json, path);
  if (special !== undefined) return special;
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw invalidArgument(`${path || 'body'}: expected an object for ${type.fullName.slice(1)}`);
  const message: Msg = {};
  for (const [name, value] of Object.entries(json)) {
    const field = fieldOf(type, name);
    if (!field) throw invalidArgument(`${path}${name}: unknown field of ${type.fullName.slice(1)}`);
    if (value === null) continue;
    message[field.name] = fieldFromJson(field, value, `${path}${name}`);
  }
  return message;
}

export function fieldFromJson(field: ReflectedField, value: unknown, path: string): unknown {
  if (field.map) {
    if (typeof value !== 'object' || Array.isArray(value)) throw invalidArgument(`${path}: expected an object`);
    return Object.fromEntries(Object.entries(value as object).map(([key, item]) => [key, valueFromJson(field, item, `${path}.${key}`)]));
  }
  if (field.repeated) {
    if (!Array.isArray(value)) throw invalidArgument(`${path}: expected an array`);
    return value.map((item, index) => valueFromJson(field, item, `${path}[${index}]`));
  }
  return valueFromJson(field, value, path);
}

function valueFromJson(field: ReflectedField, value: unknown, path: string): unknown {
  const type = field.resolvedType;
  if (isEnum(type)) {
    if (typeof value === 'number') return value;
    const number = type.values[String(value)];
    if (number === undefined) throw invalidArgument(`${path}: ${String(value)} is not a ${type.fullName.slice(1)}`);
    return number;
  }
  if (type) return messageFromJson(type, value, `${path}.`);
  return scalarFromJson(field.type, value, path);
}

export function scalarFromJson(type: string, value: unknown, path: string): unknown {
  const fail = () => invalidArgument(`${path}: ${JSON.stringify(value)} is not a valid ${type}`);
  if (type === 'string') {
    if (typeof value !== 'string') throw fail();
    return value;
  }
  if (type === 'bool') {
    if (typeof value === 'boolean') return value;
    if (value === 'true' || value === 'false') return value === 'true';
    throw fail();
  }
  if (type === 'bytes') {
    if (typeof value !== 'string') throw fail();
    return Buffer.from(value.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  }
  if (LONG_TYPES.has(type)) {
    // protobufjs's writer takes decimal strings, which keeps the full 64 bits.
    const text = String(value);
    if (!/^-?\d+$/.test(text)) throw fail();
    return text;
  }
  const number = typeof value === 'string' && ['NaN', 'Infinity', '-Infinity'].includes(value) ? Number(value) : typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof number !== 'number' || Number.isNaN(number) !== (value === 'NaN')) throw fail();
  if (INT_TYPES.has(type) && !Number.isInteger(number)) throw fail();
  return number;
}

function wellKnownFromJson(type: ReflectedMessage, json: unknown, path: string): Msg | undefined {
  const name = type.fullName;
  const fail = (what: string) => invalidArgument(`${path || 'body'}: expected ${what}`);
  if (name === '.google.protobuf.Timestamp') {
    const match = typeof json === 'string' ? /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(json) : null;
    if (!match) throw fail('an RFC 3339 timestamp');
    const ms = Date.parse(`${match[1]}${match[3]}`);
    if (Number.isNaN(ms)) throw fail('an RFC 3339 timestamp');
    return { seconds: String(Math.floor(ms / 1000)), nanos: Number((match[2] ?? '').padEnd(9, '0')) };
  }
  if (name === '.google.protobuf.Duration') {
    const match = typeof json === 'string' ? /^(-)?(\d+)(?:\.(\d{1,9}))?s$/.exec(json) : null;
    if (!match) throw fail('a duration such as "1.5s"');
    const sign = match[1] ? -1 : 1;
    return { seconds: `${match[1] ?? ''}${match[2]}`, nanos: sign * Number((match[3] ?? '').padEnd(9, '0')) };
  }
  if (name === '.google.protobuf.FieldMask') {
    if (typeof json !== 'string') throw fail('a comma-separated field mask');
    return { paths: json.split(',').filter(Boolean).map((path) => path.split('.').map(snakeCase).join('.')) };
  }
  if (name === '.google.protobuf.Struct') {
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw fail('an object');
    return { fields: Object.fromEntries(Object.entries(json).map(([key, value]) => [key, structValueFromJson(value)])) };
  }
  if (name === '.google.protobuf.Value') return structValueFromJson(json);
  if (name === '.google.protobuf.ListValue') {
    if (!Array.isArray(json)) throw fail('an array');
    return { values: json.map(structValueFromJson) };
  }
  if (name === '.google.protobuf.Any') {
    const { '@type': url, ...rest } = (json ?? {}) as Record<string, unknown>;
    if (typeof url !== 'string') throw fail('an object with "@type"');
    const inner = lookupMessage(url.slice(url.lastIndexOf('/') + 1));
    const message = messageFromJson(inner, isWellKnown(inner) ? rest.value : rest, path);
    return { typeUrl: url, value: inner.encode(message).finish() };
  }
  if (WRAPPERS.has(name)) return { value: scalarFromJson(type.fields.value!.type, json, path) };
  if (name === PAYLOADS && Array.isArray(json)) return { payloads: json.map((item, index) => payloadFromJson(item, `${path}[${index}]`)) };
  if (name === PAYLOAD) return payloadFromJson(json, path);
  return undefined;
}

function structValueFromJson(json: unknown): Msg {
  if (json === null) return { nullValue: 0 };
  if (typeof json === 'number') return { numberValue: json };
  if (typeof json === 'string') return { stringValue: json };
  if (typeof json === 'boolean') return { boolValue: json };
  if (Array.isArray(json)) return { listValue: { values: json.map(structValueFromJson) } };
  return { structValue: { fields: Object.fromEntries(Object.entries(json as object).map(([key, value]) => [key, structValueFromJson(value)])) } };
}

/** The full form when it is exactly one ({metadata: {encoding, ...}, data} in base64), otherwise the shorthand. */
function payloadFromJson(json: unknown, path: string): Msg {
  if (json === null) return { metadata: { encoding: Buffer.from('binary/null') } };
  if (isFullPayload(json)) {
    const { metadata, data } = json as { metadata: Record<string, string>; data?: string };
    return {
      metadata: Object.fromEntries(Object.entries(metadata).map(([key, value]) => [key, scalarFromJson('bytes', value, `${path}.metadata.${key}`)])),
      ...(data === undefined ? {} : { data: scalarFromJson('bytes', data, `${path}.data`) }),
    };
  }
  if (typeof json === 'object' && !Array.isArray(json) && typeof (json as Msg)._protoMessageType === 'string') {
    const { _protoMessageType: messageType, ...rest } = json as Msg;
    return { metadata: { encoding: Buffer.from('json/protobuf'), messageType: Buffer.from(messageType as string) }, data: Buffer.from(JSON.stringify(rest)) };
  }
  return { metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from(JSON.stringify(json)) };
}

function isFullPayload(json: unknown): boolean {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return false;
  const { metadata, data, ...rest } = json as Msg;
  const base64 = (value: unknown) => typeof value === 'string' && /^[A-Za-z0-9+/_-]*={0,2}$/.test(value);
  return (
    Object.keys(rest).length === 0 &&
    typeof metadata === 'object' &&
    metadata !== null &&
    Object.values(metadata as object).every(base64) &&
    base64(metadata.encoding) &&
    (base64(data) || (data === undefined && Buffer.from(metadata.encoding as string, 'base64').toString() === 'binary/null'))
  );
}

/** `json` (from messageFromJson) as the decoded message a gRPC handler receives. */
export function asDecoded(type: ReflectedMessage, message: Msg): Msg {
  return type.decode(type.encode(message).finish());
}
