/**
 * Workflow updates as the server tracks them for one run: admitted (waiting for a workflow task), sent (inside a
 * started task's `messages`), accepted (WorkflowExecutionUpdateAccepted written), completed (an outcome, from the
 * worker's response, a validator's rejection, or the run closing first). Callers of UpdateWorkflowExecution and
 * PollWorkflowExecutionUpdate wait here for the stage they asked for.
 */
import { type Msg, notFound, protoRoot, type RpcError } from './proto';

/** temporal.api.enums.v1.UpdateWorkflowExecutionLifecycleStage */
export const STAGE = { Unspecified: 0, Admitted: 1, Accepted: 2, Completed: 3 } as const;

const TYPE_URL_PREFIX = 'type.googleapis.com/';
const REQUEST_TYPE = 'temporal.api.update.v1.Request';

export interface UpdateState {
  id: string;
  /** temporal.api.update.v1.Request as the client sent it. */
  request: Msg;
  state: 'admitted' | 'sent' | 'accepted' | 'completed';
  /** The run it belongs to (moves to the next run when it was not yet accepted and the run continued as new). */
  runId: string;
  acceptedEventId?: number;
  outcome?: Msg;
  /** Set when the update can never complete (its run closed before accepting it). */
  error?: RpcError;
  waiters: Array<() => void>;
}

export function stageOf(update: UpdateState): number {
  if (update.state === 'completed') return STAGE.Completed;
  if (update.state === 'accepted') return STAGE.Accepted;
  return STAGE.Admitted;
}

function wake(update: UpdateState): void {
  for (const waiter of update.waiters.splice(0)) waiter();
}

/** Waits until the update reaches `stage`, fails, or `waitMs` passes; the caller then reports where it got. */
export function waitForStage(update: UpdateState, stage: number, waitMs: number): Promise<void> {
  return new Promise((resolve) => {
    const deadline = Date.now() + waitMs;
    const stop = () => {
      clearTimeout(timer);
      update.waiters = update.waiters.filter((waiter) => waiter !== check);
      resolve();
    };
    // Woken at every stage change: done, or waits for the next one.
    const check = () => {
      if (stageOf(update) >= stage || update.error || Date.now() >= deadline) stop();
      else update.waiters.push(check);
    };
    const timer = setTimeout(stop, Math.max(waitMs, 0));
    check();
  });
}

/** An Any holding a protobuf message of `typeName`. */
function pack(typeName: string, message: Msg): Msg {
  return { type_url: `${TYPE_URL_PREFIX}${typeName}`, value: protoRoot.lookupType(typeName).encode(message).finish() };
}

/** A worker's protocol message body: its type (Acceptance, Rejection, Response) and the decoded message. */
export function unpack(body: Msg | null | undefined): { type: string; message: Msg } {
  const typeUrl = (body?.type_url as string | undefined) ?? '';
  const typeName = typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
  if (!typeName.startsWith('temporal.api.update.v1.')) return { type: typeName, message: {} };
  return { type: typeName.slice('temporal.api.update.v1.'.length), message: protoRoot.lookupType(typeName).decode(body!.value as Uint8Array) };
}

/** The server's DiscardSpeculativeWorkflowTaskMaximumEventsCount default. */
const MAX_EVENTS_OF_DISCARDED_TASK = 10;

/**
 * Whether a speculative workflow task's completion is discarded, leaving history as it was (the server's
 * skipWorkflowTaskCompletedEvent): no commands, not a heartbeat, only update rejections; events written since the
 * last completed task only when the worker says it can see them again (SDK 1.24 does), and at most ten of them.
 */
export function discardsSpeculativeTask(request: Msg, eventsSinceLastCompletedTask: number): boolean {
  if (((request.commands ?? []) as Msg[]).length > 0 || request.forceCreateNewWorkflowTask) return false;
  const canSeeEventsAgain = Boolean(request.capabilities?.discardSpeculativeWorkflowTaskWithEvents);
  if (eventsSinceLastCompletedTask > (canSeeEventsAgain ? MAX_EVENTS_OF_DISCARDED_TASK : 0)) return false;
  return ((request.messages ?? []) as Msg[]).every((message) => unpack(message.body).type === 'Rejection');
}

export class RunUpdates {
  /** In admission order, which is the order they are delivered in. */
  private readonly byId = new Map<string, UpdateState>();

  constructor(private readonly runId: string) {}

  get(id: string): UpdateState | undefined {
    return this.byId.get(id);
  }

  /** Admits a new update, or returns the one with that id already known (update ids are idempotent). */
  admit(request: Msg): { update: UpdateState; isNew: boolean } {
    const id = request.meta?.updateId as string;
    const existing = this.byId.get(id);
    if (existing) return { update: existing, isNew: false };
    const update: UpdateState = { id, request, state: 'admitted', runId: this.runId, waiters: [] };
    this.byId.set(id, update);
    return { update, isNew: true };
  }

  /** An update moved here from the run that continued as new before accepting it. */
  adopt(update: UpdateState): void {
    update.runId = this.runId;
    update.state = 'admitted';
    this.byId.set(update.id, update);
  }

  /** Updates no workflow task has carried yet. */
  get hasAdmitted(): boolean {
    for (const update of this.byId.values()) if (update.state === 'admitted') return true;
    return false;
  }

  /** The `messages` of a workflow task being started: every admitted update, now sent. */
  deliver(startedEventId: number): Msg[] {
    const messages: Msg[] = [];
    for (const update of this.byId.values()) {
      if (update.state !== 'admitted') continue;
      update.state = 'sent';
      messages.push({
        id: `${update.id}/request`,
        protocolInstanceId: update.id,
        // Processable once the workflow has seen every event before this task's WorkflowTaskStarted.
        eventId: startedEventId - 1,
        body: pack(REQUEST_TYPE, update.request),
      });
    }
    return messages;
  }

  /** The task that carried them failed or timed out (or answered none of them): they go out again in the next. */
  resend(): void {
    for (const update of this.byId.values()) if (update.state === 'sent') update.state = 'admitted';
  }

  accept(id: string, acceptedEventId: number): UpdateState | undefined {
    const update = this.byId.get(id);
    if (!update || (update.state !== 'sent' && update.state !== 'admitted')) return undefined;
    update.state = 'accepted';
    update.acceptedEventId = acceptedEventId;
    wake(update);
    return update;
  }

  /** The validator rejected it: the caller gets the failure, history keeps nothing, and the id is free again. */
  reject(id: string, failure: Msg | undefined): void {
    const update = this.byId.get(id);
    if (!update || update.state === 'accepted' || update.state === 'completed') return;
    this.byId.delete(id);
    this.complete(update, { failure });
  }

  /** The worker's response for an accepted update. */
  respond(id: string, outcome: Msg | undefined): UpdateState | undefined {
    const update = this.byId.get(id);
    if (!update || update.state !== 'accepted') return undefined;
    this.complete(update, outcome ?? {});
    return update;
  }

  private complete(update: UpdateState, outcome: Msg): void {
    update.state = 'completed';
    update.outcome = outcome;
    wake(update);
  }

  /**
   * The run closed. Accepted updates fail as on the server ("the Workflow completed before the Update
   * completed"); the ones not yet accepted move to `next` when the run continued as new, and otherwise fail
   * with NOT_FOUND, as a request to a closed workflow does.
   */
  closeRun(next: RunUpdates | undefined): void {
    for (const update of [...this.byId.values()]) {
      if (update.state === 'completed') continue;
      if (update.state === 'accepted') {
        this.complete(update, { failure: WORKFLOW_CLOSED_BEFORE_UPDATE_COMPLETED });
        continue;
      }
      this.byId.delete(update.id);
      if (next) {
        next.adopt(update);
      } else {
        update.error = notFound('workflow execution already completed');
        wake(update);
      }
    }
  }
}

const WORKFLOW_CLOSED_BEFORE_UPDATE_COMPLETED: Msg = {
  message: 'Workflow Update failed because the Workflow completed before the Update completed.',
  source: 'Server',
  applicationFailureInfo: { type: 'AcceptedUpdateCompletedWorkflow', nonRetryable: true },
};
