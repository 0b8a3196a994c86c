/**
 * One Temporal environment per conformance file (the stand-in, or Temporal's own server: src/testing.ts). Every workflow a test runs is recorded, and `replayAll` replays each
 * history with `Worker.runReplayHistories`, so Temporal's core checks every history shape the stand-in writes.
 */
import { randomUUID } from 'node:crypto';
import { type WorkflowHandle } from '@temporalio/client';
import { type TestWorkflowEnvironment } from '@temporalio/testing';
import { createTestWorkflowEnvironment } from '../src/testing';
import { bundleWorkflowCode, Worker, type WorkflowBundle, type WorkerOptions } from '@temporalio/worker';
import * as activities from './activities';

export class Conformance {
  env!: TestWorkflowEnvironment;
  bundle!: WorkflowBundle;
  readonly taskQueue = `conformance-${randomUUID()}`;
  private readonly recorded: WorkflowHandle[] = [];

  async setup(): Promise<void> {
    this.env = await createTestWorkflowEnvironment();
    this.bundle = await bundleWorkflowCode({ workflowsPath: require.resolve('./workflows'), logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error: console.error } });
  }

  async teardown(): Promise<void> {
    await this.env?.teardown();
  }

  get client() {
    return this.env.client;
  }

  id(prefix: string): string {
    return `${prefix}-${randomUUID()}`;
  }

  record<T extends WorkflowHandle>(handle: T): T {
    this.recorded.push(handle);
    return handle;
  }

  async worker(options: Partial<WorkerOptions> = {}): Promise<Worker> {
    return Worker.create({ connection: this.env.nativeConnection, taskQueue: this.taskQueue, workflowBundle: this.bundle, activities, ...options });
  }

  async withWorker<T>(fn: () => Promise<T>, options: Partial<WorkerOptions> = {}): Promise<T> {
    return (await this.worker(options)).runUntil(fn);
  }

  /** Replays every recorded history; returns the ids whose replay failed, with the error. */
  async replayAll(): Promise<Array<{ workflowId: string; error: string }>> {
    const histories = await Promise.all(
      this.recorded.map(async (handle) => ({ workflowId: handle.workflowId, history: await handle.fetchHistory() })),
    );
    const failures: Array<{ workflowId: string; error: string }> = [];
    for await (const result of Worker.runReplayHistories({ workflowBundle: this.bundle }, histories)) {
      if (result.error) failures.push({ workflowId: result.workflowId, error: String(result.error) });
    }
    return failures;
  }

  get recordedCount(): number {
    return this.recorded.length;
  }
}
