import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type EnosCaller, EnosService } from '../../lambdas/core/dialects/enos/service.ts';
import { ExecutionService } from '../../lambdas/core/engine/executions.ts';
import { FlowService } from '../../lambdas/core/engine/flows.ts';
import { TriggerService } from '../../lambdas/core/triggers/service.ts';
import type { MetadataStore } from '../../lambdas/ports/metadata-store.ts';
import type { Orchestrator } from '../../lambdas/ports/orchestrator.ts';
import type { Scheduler } from '../../lambdas/ports/scheduler.ts';
import { startEngineStores } from '../support/engine-stores.ts';

/**
 * EnOS's one-instance-at-a-time rule under concurrency, as on AWS where API
 * calls, the fire-trigger function and the execution-events function run at
 * once: the EnOS service's store calls are delayed at random, so its reads
 * and writes interleave in many orders. Executions are started and ended by
 * hand (a scripted orchestrator), so the test decides when each run ends.
 */

const orchestrator: Orchestrator = {
  deploy: async (name) => ({ id: `arn:aws:states:local:0:stateMachine:${name}` }),
  start: async () => {},
  stop: async () => {},
  redrive: async () => {},
  sendTaskSuccess: async () => {},
  sendTaskFailure: async () => {},
  sendTaskHeartbeat: async () => {},
};
const scheduler: Scheduler = { put: async () => {}, remove: async () => {} };

/** The same store, each call after a random pause of up to 4 ms. */
function jittery(store: MetadataStore): MetadataStore {
  const pause = () => new Promise((resolve) => setTimeout(resolve, Math.random() * 4));
  const later =
    <A extends unknown[], R>(call: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      await pause();
      return call(...args);
    };
  return {
    create: later((item) => store.create(item)),
    update: later((item, version: number) => store.update(item, version)),
    get: later((key) => store.get(key)),
    delete: later((key, version?: number) => store.delete(key, version)),
    listPartition: later((partition: string, prefix: string, page?) =>
      store.listPartition(partition, prefix, page),
    ),
    listCollection: later((collection: string, page?) => store.listCollection(collection, page)),
    nextSequence: later((name: string, start?: number) => store.nextSequence(name, start)),
    ping: () => store.ping(),
  } as MetadataStore;
}

let stores: Awaited<ReturnType<typeof startEngineStores>>;
let enos: EnosService;
let executions: ExecutionService;
const caller: EnosCaller = { userId: 'u1', orgId: 'race' };
const tenant = 'enos:race';

interface InstanceRow {
  instanceId: string;
  engineId: string;
  state: string;
}

async function instancesOf(flowId: number): Promise<InstanceRow[]> {
  const page = await stores.records.store.listCollection<InstanceRow & { flowId: number }>(
    `enos#instances#${caller.orgId}`,
    { limit: 1000 },
  );
  return page.items.map((item) => item.data).filter((row) => row.flowId === flowId);
}

async function running(rows: InstanceRow[]): Promise<InstanceRow[]> {
  const out: InstanceRow[] = [];
  for (const row of rows) {
    const execution = row.state === 'STARTED' ? await executions.find(tenant, row.engineId) : undefined;
    if (execution?.status === 'RUNNING') out.push(row);
  }
  return out;
}

describe('EnOS instances under concurrent triggers and ends', () => {
  before(async () => {
    stores = await startEngineStores('enosrace');
    const records = stores.records;
    executions = new ExecutionService({ records, contexts: stores.contexts, orchestrator });
    const flows = new FlowService({
      records,
      orchestrator,
      compile: () => ({ StartAt: 'x', States: { x: { Type: 'Succeed' } } }),
    });
    const triggers = new TriggerService({ records, executions, scheduler, bucket: 'files' });
    enos = new EnosService({ store: jittery(records.store), flows, executions, triggers });
  });
  after(async () => {
    await stores.stop();
  });

  it('runs one instance at a time and starts every queued one, in 20 rounds of racing triggers and ends', async () => {
    const root = enos.rootDirId(caller.orgId);
    for (let round = 0; round < 20; round += 1) {
      const { flowId } = await enos.importFlow(caller, {
        flowName: `race-${round}`,
        dirId: root,
        flowJson: { tasks: [{ name: 'work', cmd: 'true' }] },
      });
      // Four triggers at once on an idle flow.
      await Promise.all([0, 1, 2, 3].map(() => enos.trigger(caller, { flowId })));
      let ended = 0;
      for (let step = 0; step < 40 && ended < 6; step += 1) {
        const rows = await instancesOf(flowId);
        const now = await running(rows);
        assert.ok(
          now.length <= 1,
          `round ${round}: ${now.map((row) => row.instanceId).join(', ')} run at once`,
        );
        const current = now[0];
        if (!current) {
          // Nothing runs: then nothing may wait either.
          assert.deepEqual(
            rows.filter((row) => row.state === 'WAIT').map((row) => row.instanceId),
            [],
            `round ${round}: instances wait while none runs`,
          );
          if (rows.length >= 6) break;
          await enos.trigger(caller, { flowId });
          continue;
        }
        // The running one ends (the execution-events path) while more triggers arrive.
        await Promise.all([
          executions.ended(current.engineId, { status: 'SUCCEEDED' }),
          ended < 2 ? enos.trigger(caller, { flowId }) : Promise.resolve(),
        ]);
        ended += 1;
      }
      const rows = await instancesOf(flowId);
      assert.equal(rows.length, 6, `round ${round}: six instances`);
      assert.equal((await running(rows)).length, 0);
      assert.deepEqual(
        rows.filter((row) => row.state !== 'STARTED').map((row) => `${row.instanceId}:${row.state}`),
        [],
        `round ${round}: every instance started`,
      );
    }
  });
});
