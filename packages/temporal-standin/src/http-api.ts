/**
 * Temporal's HTTP API on the stand-in: the `google.api.http` bindings under /api/v1 of WorkflowService and
 * OperatorService, read from the descriptors @temporalio/proto ships and mounted generically onto the same handlers
 * the gRPC server runs (in process), with canonical proto3 JSON (proto-json.ts). Path variables such as
 * `{execution.workflow_id}` fill nested fields; a binding's `body` ("*" or one field) takes the JSON body; GET and
 * DELETE take the other fields from the query string (`?execution.runId=...`, proto or JSON names), as grpc-gateway
 * does. Errors answer grpc-gateway's `{code, message, details}` with its HTTP status for the gRPC code.
 * Besides, what Temporal's UI server adds itself: GET /api/v1/settings and the raw history download.
 */
import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { type AddressInfo } from 'node:net';
import { Metadata, status as GrpcStatus, type ServerUnaryCall } from '@grpc/grpc-js';
import { invalidArgument, type Msg, protoRoot, RpcError } from './proto';
import { asDecoded, fieldOf, type JsonOptions, lookupMessage, messageFromJson, messageToJson, type ReflectedMessage, scalarFromJson } from './proto-json';

export type UnaryHandler = (request: Msg, call: ServerUnaryCall<Msg, Msg>) => Msg | Promise<Msg>;
/** Handlers by service (`WorkflowService`, `OperatorService`) and method name, as the gRPC server runs them. */
export type ServiceHandlers = Record<string, Record<string, UnaryHandler>>;

export interface HttpApiOptions {
  /**
   * Write payloads in Temporal's shorthand (plain JSON values) unless a request says `?noPayloadShorthand`, as
   * Temporal's server HTTP API does. Off: the full form, as Temporal's UI server writes it (the UI expects that).
   */
  payloadShorthand?: boolean;
  /** Served as `Version` by GET /api/v1/settings; the UI adapts its requests to it. */
  uiVersion?: string;
}

export type HttpApiHandler = (request: IncomingMessage, response: ServerResponse) => void;

const SERVICES = {
  WorkflowService: 'temporal.api.workflowservice.v1.WorkflowService',
  OperatorService: 'temporal.api.operatorservice.v1.OperatorService',
};
const PREFIX = '/api/v1/';
const MAX_BODY = 4 * 1024 * 1024;

interface Route {
  service: string;
  method: string;
  verb: string;
  /** Path segments after /api/v1/: literals, or field paths for `{a.b}`. */
  segments: Array<{ literal: string } | { field: string[] }>;
  literals: number;
  body: string | undefined;
  requestType: ReflectedMessage;
  responseType: ReflectedMessage;
}

interface HttpRule {
  get?: string;
  post?: string;
  put?: string;
  delete?: string;
  patch?: string;
  body?: string;
  additional_bindings?: HttpRule | HttpRule[];
}

let routes: Route[] | undefined;

/** Every /api/v1 binding of the two services, read once from the method options. */
function allRoutes(): Route[] {
  if (routes) return routes;
  routes = [];
  for (const [service, fullName] of Object.entries(SERVICES)) {
    const methods = protoRoot.lookupService(fullName).methods as unknown as Record<string, { parsedOptions?: Array<Record<string, HttpRule>>; resolve(): void; resolvedRequestType: unknown; resolvedResponseType: unknown }>;
    for (const [method, descriptor] of Object.entries(methods)) {
      const rule = descriptor.parsedOptions?.find((option) => option['(google.api.http)'])?.['(google.api.http)'];
      if (!rule) continue;
      descriptor.resolve();
      const additional = rule.additional_bindings;
      for (const binding of [rule, ...(Array.isArray(additional) ? additional : additional ? [additional] : [])]) {
        const verb = (['get', 'post', 'put', 'delete', 'patch'] as const).find((name) => binding[name]);
        const template = verb && binding[verb];
        if (!verb || !template?.startsWith(PREFIX)) continue;
        const segments = template
          .slice(PREFIX.length)
          .split('/')
          .map((segment) => (segment.startsWith('{') ? { field: segment.slice(1, -1).split('=')[0]!.split('.') } : { literal: segment }));
        routes.push({
          service,
          method,
          verb: verb.toUpperCase(),
          segments,
          literals: segments.filter((segment) => 'literal' in segment).length,
          body: binding.body || undefined,
          requestType: descriptor.resolvedRequestType as ReflectedMessage,
          responseType: descriptor.resolvedResponseType as ReflectedMessage,
        });
      }
    }
  }
  // The most specific template wins where two match.
  routes.sort((a, b) => b.literals - a.literals);
  return routes;
}

/** The number of /api/v1 bindings per service, for the record. */
export function httpBindingCounts(): Record<string, number> {
  const methods: Record<string, Set<string>> = {};
  for (const route of allRoutes()) (methods[route.service] ??= new Set()).add(route.method);
  return Object.fromEntries(Object.entries(methods).map(([service, names]) => [service, names.size]));
}

function match(verb: string, segments: string[]): { route: Route; values: Map<string[], string> } | undefined {
  for (const route of allRoutes()) {
    if (route.verb !== verb || route.segments.length !== segments.length) continue;
    const values = new Map<string[], string>();
    const matched = route.segments.every((segment, index) => {
      if ('literal' in segment) return segment.literal === segments[index];
      values.set(segment.field, segments[index]!);
      return segments[index] !== '';
    });
    if (matched) return { route, values };
  }
  return undefined;
}

/** Sets the field at `path` (names in proto or JSON form) of a message built from JSON, creating the messages on the way. */
function setField(type: ReflectedMessage, message: Msg, path: string[], values: string[], strict: boolean): void {
  let current = message;
  let currentType = type;
  for (const [index, name] of path.entries()) {
    const field = fieldOf(currentType, name);
    if (!field) {
      if (strict) throw invalidArgument(`${path.join('.')}: unknown field of ${type.fullName.slice(1)}`);
      return; // An unknown query parameter is ignored, as grpc-gateway does.
    }
    const last = index === path.length - 1;
    const nested = field.resolvedType && 'fieldsArray' in field.resolvedType ? (field.resolvedType as ReflectedMessage) : undefined;
    if (!last) {
      if (!nested || field.repeated || field.map) throw invalidArgument(`${path.join('.')}: ${name} is not a message field`);
      current = current[field.name] ??= {};
      currentType = nested;
      continue;
    }
    const convert = (value: string): unknown => {
      if (field.resolvedType && 'values' in field.resolvedType && !nested) {
        const number = (field.resolvedType as { values: Record<string, number> }).values[value] ?? (/^\d+$/.test(value) ? Number(value) : undefined);
        if (number === undefined) throw invalidArgument(`${path.join('.')}: ${value} is not a valid value`);
        return number;
      }
      if (nested) return messageFromJson(nested, value, `${path.join('.')}.`);
      return scalarFromJson(field.type, value, path.join('.'));
    };
    if (field.map) return;
    current[field.name] = field.repeated ? [...((current[field.name] as unknown[]) ?? []), ...values.map(convert)] : convert(values[values.length - 1]!);
  }
}

async function readBody(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw invalidArgument('request body is larger than 4 MB');
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (!text) return {};
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw invalidArgument(`request body is not JSON: ${(error as Error).message}`);
  }
}

/** What the handlers read of a gRPC call: the request, no deadline, cancelled when the client goes away. */
function callFor(message: Msg, request: IncomingMessage, response: ServerResponse): ServerUnaryCall<Msg, Msg> {
  const metadata = new Metadata();
  for (const [name, value] of Object.entries(request.headers)) {
    if (typeof value === 'string' && !name.startsWith(':')) metadata.set(name, value);
  }
  const call = Object.assign(new EventEmitter(), {
    request: message,
    metadata,
    cancelled: false,
    getDeadline: () => Infinity,
    getPeer: () => `${request.socket.remoteAddress ?? ''}:${request.socket.remotePort ?? ''}`,
  });
  response.once('close', () => {
    if (response.writableFinished) return;
    call.cancelled = true;
    call.emit('cancelled');
  });
  return call as unknown as ServerUnaryCall<Msg, Msg>;
}

/** grpc-gateway's HTTP status for each gRPC code. */
const HTTP_STATUS: Record<number, number> = {
  [GrpcStatus.OK]: 200,
  [GrpcStatus.CANCELLED]: 499,
  [GrpcStatus.UNKNOWN]: 500,
  [GrpcStatus.INVALID_ARGUMENT]: 400,
  [GrpcStatus.DEADLINE_EXCEEDED]: 504,
  [GrpcStatus.NOT_FOUND]: 404,
  [GrpcStatus.ALREADY_EXISTS]: 409,
  [GrpcStatus.PERMISSION_DENIED]: 403,
  [GrpcStatus.RESOURCE_EXHAUSTED]: 429,
  [GrpcStatus.FAILED_PRECONDITION]: 400,
  [GrpcStatus.ABORTED]: 409,
  [GrpcStatus.OUT_OF_RANGE]: 400,
  [GrpcStatus.UNIMPLEMENTED]: 501,
  [GrpcStatus.INTERNAL]: 500,
  [GrpcStatus.UNAVAILABLE]: 503,
  [GrpcStatus.DATA_LOSS]: 500,
  [GrpcStatus.UNAUTHENTICATED]: 401,
};

function send(response: ServerResponse, status: number, body: unknown, pretty: boolean): void {
  const text = JSON.stringify(body, null, pretty ? 2 : undefined);
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  response.end(text);
}

function sendError(response: ServerResponse, error: unknown, log: (message: string) => void): void {
  if (response.headersSent) {
    response.destroy();
    return;
  }
  if (error instanceof RpcError) {
    send(response, HTTP_STATUS[error.code] ?? 500, { code: error.code, message: error.message, details: [] }, false);
    return;
  }
  log(`HTTP API failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  send(response, 500, { code: GrpcStatus.INTERNAL, message: error instanceof Error ? error.message : String(error), details: [] }, false);
}

/** Temporal UI server's settings: no auth, no codec, nothing disabled. */
function settings(uiVersion: string): Msg {
  return {
    Auth: { Enabled: false, Options: null },
    BannerText: '',
    DefaultNamespace: 'default',
    ShowTemporalSystemNamespace: false,
    FeedbackURL: '',
    NotifyOnNewVersion: false,
    Codec: { Endpoint: '', PassAccessToken: false, IncludeCredentials: false, DefaultErrorMessage: '', DefaultErrorLink: '' },
    Version: uiVersion,
    DisableWriteActions: false,
    WorkflowTerminateDisabled: false,
    WorkflowCancelDisabled: false,
    WorkflowSignalDisabled: false,
    WorkflowUpdateDisabled: false,
    WorkflowResetDisabled: false,
    BatchActionsDisabled: false,
    StartWorkflowDisabled: false,
    HideWorkflowQueryErrors: false,
    RefreshWorkflowCountsDisabled: false,
  };
}

/** A path segment, `%2F` and all, as the value it names (a workflow id may hold a slash). */
function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw invalidArgument(`malformed path segment ${segment}`);
  }
}

const RAW_HISTORY = /^namespaces\/([^/]+)\/workflows\/([^/]+)\/run\/([^/]+)\/history\.json$/;

/** The UI's "download history": every event of a run as one JSON array, page after page. */
async function rawHistory(handlers: ServiceHandlers, ids: string[], request: IncomingMessage, response: ServerResponse): Promise<void> {
  const [namespace, workflowId, runId] = ids.map(decodeSegment) as [string, string, string];
  const requestType = lookupMessage('temporal.api.workflowservice.v1.GetWorkflowExecutionHistoryRequest');
  const responseType = lookupMessage('temporal.api.workflowservice.v1.GetWorkflowExecutionHistoryResponse');
  const historyHandler = handlers.WorkflowService!.GetWorkflowExecutionHistory!;
  let nextPageToken: Uint8Array = new Uint8Array();
  let written = 0;
  do {
    const message = asDecoded(requestType, { namespace, execution: { workflowId, runId }, nextPageToken });
    const page = asDecoded(responseType, await historyHandler(message, callFor(message, request, response)));
    if (written === 0) response.writeHead(200, { 'content-type': 'application/json' }).write('[');
    for (const event of (page.history?.events ?? []) as Msg[]) {
      response.write(`${written++ > 0 ? ',' : ''}${JSON.stringify(messageToJson(lookupMessage('temporal.api.history.v1.HistoryEvent'), event))}\n`);
    }
    nextPageToken = page.nextPageToken as Uint8Array;
  } while (nextPageToken?.length && !response.destroyed);
  response.end(']');
}

/**
 * The HTTP API as a node:http request listener. Requests outside /api/v1/ answer 404; mount it under a server that
 * routes only /api/v1 here (Temporal UI's static server does) or serve it alone (`listenHttpApi`).
 */
export function createHttpApi(handlers: ServiceHandlers, options: HttpApiOptions = {}, log: (message: string) => void = () => undefined): HttpApiHandler {
  return (request, response) => {
    void (async () => {
      const url = new URL(request.url ?? '/', 'http://localhost');
      const pretty = url.searchParams.has('pretty');
      if (!url.pathname.startsWith(PREFIX)) throw new RpcError(GrpcStatus.NOT_FOUND, `no such path: ${url.pathname}`);
      const rest = url.pathname.slice(PREFIX.length);
      const verb = request.method === 'HEAD' ? 'GET' : (request.method ?? 'GET');

      if (verb === 'GET' && rest === 'settings') return send(response, 200, settings(options.uiVersion ?? ''), pretty);
      const raw = verb === 'GET' ? RAW_HISTORY.exec(rest) : null;
      if (raw) return rawHistory(handlers, raw.slice(1), request, response);

      const segments = rest.split('/');
      const found = match(verb, segments);
      if (!found) throw new RpcError(GrpcStatus.NOT_FOUND, `no Temporal HTTP API method at ${verb} ${url.pathname}`);
      const { route, values } = found;

      // The body first, then the path variables over it, then (without a "*" body) the query string.
      let message: Msg = {};
      if (route.body) {
        const body = await readBody(request);
        if (route.body === '*') message = messageFromJson(route.requestType, body);
        else {
          const field = fieldOf(route.requestType, route.body);
          if (!field) throw new Error(`${route.method}: no body field ${route.body}`);
          message = messageFromJson(route.requestType, { [field.name]: body });
        }
      }
      for (const [path, value] of values) setField(route.requestType, message, path, [decodeSegment(value)], true);
      if (route.body !== '*') {
        const grouped = new Map<string, string[]>();
        for (const [key, value] of url.searchParams) {
          if (key === 'pretty' || key === 'noPayloadShorthand') continue;
          grouped.set(key, [...(grouped.get(key) ?? []), value]);
        }
        for (const [key, list] of grouped) setField(route.requestType, message, key.split('.'), list, false);
      }

      const handler = handlers[route.service]?.[route.method];
      if (!handler) throw new RpcError(GrpcStatus.UNIMPLEMENTED, `unknown method ${route.method}: not implemented by the Temporal stand-in`);
      const decoded = asDecoded(route.requestType, message);
      const result = await handler(decoded, callFor(decoded, request, response));
      const jsonOptions: JsonOptions = { payloadShorthand: Boolean(options.payloadShorthand) && !url.searchParams.has('noPayloadShorthand') };
      send(response, 200, messageToJson(route.responseType, asDecoded(route.responseType, result), jsonOptions), pretty);
    })().catch((error: unknown) => sendError(response, error, log));
  };
}

/** Serves the HTTP API alone, as Temporal's server does on its HTTP port. */
export async function listenHttpApi(handler: HttpApiHandler, host: string, port: number): Promise<{ address: string; close(): Promise<void> }> {
  const server = createServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  return {
    address: `${host}:${bound}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
