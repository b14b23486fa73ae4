import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ExecutionService } from '../../lambdas/core/engine/executions.ts';
import { FlowService } from '../../lambdas/core/engine/flows.ts';
import type { EngineRecords } from '../../lambdas/core/engine/records.ts';
import type { Orchestrator } from '../../lambdas/ports/orchestrator.ts';
import { startEngineStores } from '../support/engine-stores.ts';

/**
 * How executions behave when the orchestrator refuses (real stores, a
 * scripted orchestrator): nothing may stay RUNNING without a state machine.
 */

class ScriptedOrchestrator implements Orchestrator {
  failStart = false;
  failRedrive = false;
  async deploy(name: string) {
    return { id: `arn:aws:states:local:0:stateMachine:${name}` };
  }
  async start() {
    if (this.failStart) throw new Error('ThrottlingException: rate exceeded');
  }
  async stop() {}
  async redrive() {
    if (this.failRedrive) throw new Error('ExecutionNotRedrivable: older than 14 days');
  }
  async sendTaskSuccess() {}
  async sendTaskFailure() {}
  async sendTaskHeartbeat() {}
}

let stores: Awaited<ReturnType<typeof startEngineStores>>;
let orchestrator: ScriptedOrchestrator;
let executions: ExecutionService;
let flows: FlowService;
let records: EngineRecords;

describe('execution service against a refusing orchestrator', () => {
  before(async () => {
    stores = await startEngineStores('exec');
    records = stores.records;
    orchestrator = new ScriptedOrchestrator();
    executions = new ExecutionService({ records, contexts: stores.contexts, orchestrator });
    flows = new FlowService({
      records,
      orchestrator,
      compile: () => ({ StartAt: 'x', States: { x: { Type: 'Succeed' } } }),
    });
  });
  after(async () => {
    await stores.stop();
  });

  it('ends an execution FAILED when its state machine does not start, and a retried start tries again', async () => {
    const flow = await flows.create('t', { name: 'f', tasks: [{ name: 'a', kind: 'pass' }] });
    orchestrator.failStart = true;
    await assert.rejects(
      executions.start('t', flow.id, { executionId: 'start-fails' }),
      /ThrottlingException/,
    );
    const failed = await records.getExecution('start-fails');
    assert.equal(failed?.status, 'FAILED');
    assert.equal(failed?.error?.error, 'Sluice.StartFailed');
    assert.deepEqual(await executions.running(), []);

    orchestrator.failStart = false;
    const started = await executions.start('t', flow.id, { executionId: 'start-ok' });
    assert.equal(started.status, 'RUNNING');
    assert.deepEqual(await executions.running(), ['start-ok']);
  });

  it('puts an execution back as it ended when resuming it fails', async () => {
    const flow = await flows.create('t', { name: 'g', tasks: [{ name: 'a', kind: 'pass' }] });
    await executions.start('t', flow.id, { executionId: 'resume-fails' });
    await executions.ended('resume-fails', {
      status: 'FAILED',
      error: 'Sluice.TaskFailed',
      cause: 'Task a failed: x',
    });
    orchestrator.failRedrive = true;
    await assert.rejects(executions.resume('t', 'resume-fails'), /ExecutionNotRedrivable/);
    const after = await records.getExecution('resume-fails');
    assert.equal(after?.status, 'FAILED');
    assert.equal(after?.error?.task, 'a');
    assert.ok(!(await executions.running()).includes('resume-fails'));
  });

  it('ignores an end reported for the run before a resume (a late or repeated event)', async () => {
    const flow = await flows.create('t', { name: 'h', tasks: [{ name: 'a', kind: 'pass' }] });
    orchestrator.failRedrive = false;
    await executions.start('t', flow.id, { executionId: 'late-event' });
    await executions.ended(
      'late-event',
      { status: 'STOPPED', error: 'Sluice.Stopped', cause: 'operator' },
      0,
    );
    await executions.resume('t', 'late-event');
    await executions.ended('late-event', { status: 'STOPPED', error: 'States.Aborted', cause: 'late' }, 0);
    assert.equal(
      (await records.getExecution('late-event'))?.status,
      'RUNNING',
      'the stale event changed nothing',
    );
    await executions.ended('late-event', { status: 'SUCCEEDED' }, 1);
    assert.equal((await records.getExecution('late-event'))?.status, 'SUCCEEDED');
  });

  it('keeps an end whose hooks failed marked, so its redelivery runs every hook again; stop still answers', async () => {
    const flow = await flows.create('t', { name: 'hooks', tasks: [{ name: 'a', kind: 'pass' }] });
    const calls: string[] = [];
    let failing = true;
    executions.onEnded(async (execution) => {
      if (!execution.id.startsWith('hooked-')) return;
      calls.push(execution.id);
      if (failing) throw new Error('DynamoDB throttled the hook');
    });
    await executions.start('t', flow.id, { executionId: 'hooked-1' });
    await assert.rejects(executions.ended('hooked-1', { status: 'SUCCEEDED' }), { name: 'EndedHooksFailed' });
    assert.equal((await executions.describe('t', 'hooked-1')).execution.status, 'SUCCEEDED');
    assert.ok((await executions.running()).includes('hooked-1'), 'still marked: its hooks are owed');
    failing = false;
    await executions.ended('hooked-1', { status: 'SUCCEEDED' });
    assert.deepEqual(calls, ['hooked-1', 'hooked-1']);
    assert.ok(!(await executions.running()).includes('hooked-1'));
    // Told once more: nothing is owed any longer, no hook runs.
    await executions.ended('hooked-1', { status: 'SUCCEEDED' });
    assert.equal(calls.length, 2);

    // Stopping answers the client even when a hook fails; the marker stays for the redelivered end.
    failing = true;
    await executions.start('t', flow.id, { executionId: 'hooked-2' });
    const stopped = await executions.stop('t', 'hooked-2');
    assert.equal(stopped.status, 'STOPPED');
    assert.ok((await executions.running()).includes('hooked-2'));
    failing = false;
  });

  it('gives every subflow task its own child execution, whatever the names', async () => {
    const parentFlow = await flows.create('t', { name: 'p', tasks: [{ name: 'a', kind: 'pass' }] });
    const childFlow = await flows.create('t', { name: 'c', tasks: [{ name: 'a', kind: 'pass' }] });
    const parent = await executions.start('t', parentFlow.id, { executionId: 'p'.repeat(80) });
    const long = 'x'.repeat(60);
    const first = await executions.createChild(parent, `${long}-one`, childFlow.id, {});
    const second = await executions.createChild(parent, `${long}-two`, childFlow.id, {});
    assert.notEqual(first.executionId, second.executionId);
    assert.notEqual(first.executionId, parent.id);
    assert.match(first.executionId, /^[A-Za-z0-9_-]{1,80}$/);
    assert.deepEqual(
      await executions.createChild(parent, `${long}-one`, childFlow.id, {}),
      first,
      'a redrive reuses it',
    );
  });
});
