/**
 * Protocol helpers: the protobuf root that @temporalio/proto ships, conversions between its wire types (Long,
 * Timestamp, Duration, Payload) and plain numbers, event and command names, and gRPC status errors.
 */
/* eslint-disable @typescript-eslint/no-explicit-any -- protobuf messages are reflected at run time */
import { status as GrpcStatus, type ServiceError, Metadata } from '@grpc/grpc-js';
import root from '@temporalio/proto';

export type Msg = Record<string, any>;

/** The slice of protobufjs reflection used here. */
export interface ReflectedType {
  fullName: string;
  encode(message: Msg): { finish(): Uint8Array };
  decode(bytes: Uint8Array): Msg;
}
export interface ReflectedMethod {
  name: string;
  requestStream?: boolean;
  responseStream?: boolean;
  resolve(): void;
  resolvedRequestType: ReflectedType | null;
  resolvedResponseType: ReflectedType | null;
}
interface ReflectedRoot {
  lookupType(name: string): ReflectedType;
  lookupEnum(name: string): { values: Record<string, number>; valuesById: Record<number, string> };
  lookupService(name: string): { fullName: string; methods: Record<string, ReflectedMethod> };
}
export const protoRoot = root as unknown as ReflectedRoot;

export const enumValue = (enumName: string, value: string): number => {
  const values = protoRoot.lookupEnum(enumName).values;
  const number = values[value];
  if (number === undefined) throw new Error(`${enumName} has no ${value}`);
  return number;
};
export const enumName = (enumName: string, value: number): string => protoRoot.lookupEnum(enumName).valuesById[value] ?? 'UNKNOWN';

/** int64 fields arrive as Long (or number); everything here fits a double. */
export function num(value: unknown): number {
  if (value === null || value === undefined) return 0;
  if (typeof value === 'number') return value;
  if (typeof value === 'string') return Number(value);
  if (typeof (value as { toNumber?: () => number }).toNumber === 'function') return (value as { toNumber(): number }).toNumber();
  return Number(value);
}

export function durationMs(duration: Msg | null | undefined): number | undefined {
  if (!duration) return undefined;
  const ms = num(duration.seconds) * 1000 + Math.floor(num(duration.nanos) / 1e6);
  return ms > 0 ? ms : undefined;
}

export function duration(ms: number): Msg {
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 };
}

export function timestamp(ms: number): Msg {
  return { seconds: Math.floor(ms / 1000), nanos: Math.floor(ms % 1000) * 1e6 };
}

export function timestampMs(value: Msg | null | undefined): number | undefined {
  if (!value) return undefined;
  return num(value.seconds) * 1000 + Math.floor(num(value.nanos) / 1e6);
}

/** `timerFired` -> EVENT_TYPE_TIMER_FIRED's number. */
const eventTypeCache = new Map<string, number>();
export function eventType(attributesName: string): number {
  let value = eventTypeCache.get(attributesName);
  if (value === undefined) {
    value = enumValue('temporal.api.enums.v1.EventType', `EVENT_TYPE_${attributesName.replace(/([A-Z])/g, '_$1').toUpperCase()}`);
    eventTypeCache.set(attributesName, value);
  }
  return value;
}

export function jsonPayload(value: unknown, type?: string): Msg {
  return {
    metadata: { encoding: Buffer.from('json/plain'), ...(type ? { type: Buffer.from(type) } : {}) },
    data: Buffer.from(JSON.stringify(value)),
  };
}

export function decodePayload(payload: Msg | undefined): unknown {
  if (!payload?.data) return undefined;
  const encoding = payload.metadata?.encoding ? Buffer.from(payload.metadata.encoding).toString() : '';
  if (encoding !== 'json/plain') return undefined;
  try {
    return JSON.parse(Buffer.from(payload.data).toString());
  } catch {
    return undefined;
  }
}

export class RpcError extends Error implements Partial<ServiceError> {
  readonly metadata = new Metadata();
  constructor(
    readonly code: GrpcStatus,
    message: string,
    readonly details = message,
  ) {
    super(message);
  }
}

export const notFound = (message: string) => new RpcError(GrpcStatus.NOT_FOUND, message);
export const invalidArgument = (message: string) => new RpcError(GrpcStatus.INVALID_ARGUMENT, message);
export const alreadyExists = (message: string) => new RpcError(GrpcStatus.ALREADY_EXISTS, message);
export const failedPrecondition = (message: string) => new RpcError(GrpcStatus.FAILED_PRECONDITION, message);

export interface TaskToken {
  kind: 'workflow' | 'activity' | 'query';
  namespace: string;
  runId: string;
  /** Workflow or activity task: its scheduled event id; query: the query id. */
  id: number | string;
  attempt: number;
}

export function encodeToken(token: TaskToken): Buffer {
  return Buffer.from(JSON.stringify(token));
}

export function decodeToken(bytes: Uint8Array | null | undefined): TaskToken {
  try {
    return JSON.parse(Buffer.from(bytes ?? []).toString()) as TaskToken;
  } catch {
    throw notFound('invalid task token');
  }
}
