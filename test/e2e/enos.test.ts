import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type LocalRuntime, startLocalRuntime } from '../../dev-server/runtime.ts';
import { ephemeralSettings } from '../../dev-server/settings.ts';
import { dependencies } from '../../lambdas/composition/dependencies.ts';
import { handler as fireTrigger } from '../../lambdas/handlers/fire-trigger.ts';
import { until } from '../support/poll.ts';

/**
 * EnOS batch processing (seed 004) as its clients script it, against the
 * local runtime with command tasks on: import the seed's flow into a
 * directory, trigger it, read its instance and its task log, switch its
 * schedule, and every refusal in `{status, msg, data}`.
 */

type Json = Record<string, unknown>;
const base = '/dataflow-batch-service/v2.0';

let runtime: LocalRuntime;

async function call(method: string, path: string, body?: unknown) {
  const response = await fetch(`${runtime.apiUrl}${base}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  return {
    http: response.status,
    ...((await response.json()) as { status: number; msg: string; data: unknown }),
  };
}

const as = (userId: string, orgId = 'o15589291276491') => `userId=${userId}&orgId=${orgId}`;

/** The seed's request example, its `cmd` written as valid JSON as a real client sends it. */
const seedFlow = (dirId: string, flowName = 'outuser', overrides: Json = {}) => ({
  flowName,
  desc: '',
  dirId,
  flowJson: {
    cycle: 'D',
    cron: '0 0 0 * * ? *',
    parameters: '[{"key":"REPLACE","value":"lili1"}]',
    submitter: 'yourSubmitter',
    owners: 'yourOwners',
    visitors: 'u-visitor',
    type: 1,
    desc: '',
    tasks: [
      {
        name: 'tass',
        resource: 'default',
        type: 'DATA_INTEGRATION',
        cmd: 'echo "hello"',
        submitter: 'yourSubmitter',
        filePackage: '',
        cron: '',
        priorityLevel: 0,
        timeout: 300,
        retryLimit: 3,
        retryInterval: 0,
        successCode: '0',
        waitCode: '',
        asLink: true,
        runMode:
          '{"taskMode":1,"cpu":0.5,"memory":1,"maxParallel":0,"keyType":0,"datasourceId":0,"path":"","content":""}',
        syncType: 1,
      },
    ],
    relations: [],
    startTime: '2019-11-22',
    flowLinks: [],
    syncType: 1,
    linkRelations: [],
    alertTo: '',
    alertMode: 3,
    taskLinks: [],
    appId: '',
    ...overrides,
  },
});

const task = (name: string, cmd: string) => ({ name, cmd, timeout: 60, retryLimit: 0, successCode: '0' });

async function rootDir(userId = 'u1'): Promise<string> {
  const tree = await call('GET', `/directories?action=listWorkFlowDirs&${as(userId)}`);
  assert.equal(tree.status, 0, tree.msg);
  return String((tree.data as Json[])[0]?.key);
}

async function instance(id: string, userId = 'u1') {
  const got = await call('GET', `/flowInstances?action=get&${as(userId)}&flowInstId=${id}`);
  assert.equal(got.status, 0, got.msg);
  return got.data as Json;
}

const finished = (id: string) =>
  until(`instance ${id} to end`, async () => {
    const view = await instance(id);
    return [0, 2, 5].includes(view.status as number) ? undefined : view;
  });

describe('EnOS batch-processing dialect', () => {
  let dirId = '';
  let flowId = 0;

  before(async () => {
    runtime = await startLocalRuntime(ephemeralSettings({ commandTasks: true }));
  });
  after(async () => {
    await runtime.stop();
  });

  it('imports the seed example into an existing directory, runs `echo "hello"` on trigger and shows its log', async () => {
    const root = await rootDir();
    const created = await call('POST', `/directories?action=create&${as('u1')}`, {
      parentId: root,
      dirName: 'etl',
    });
    assert.equal(created.status, 0, created.msg);
    dirId = String((created.data as Json).dirId);
    assert.match(dirId, /^[0-9a-f]{32}$/);

    const imported = await call('POST', `/flows?action=import&${as('u1')}`, seedFlow(dirId));
    assert.equal(imported.http, 200);
    assert.equal(imported.status, 0, imported.msg);
    assert.equal(imported.msg, 'Success');
    flowId = (imported.data as Json).flowId as number;
    assert.ok(Number.isInteger(flowId));

    const triggered = await call('POST', `/flows?action=trigger&${as('u1')}`, {
      flowId,
      triggerTime: Date.parse('2019-07-18T07:50:00Z'),
    });
    assert.equal(triggered.status, 0, triggered.msg);
    const instanceId = String((triggered.data as Json).flowInstanceId);
    assert.equal(instanceId, `${flowId}-20190718075000`);

    const view = await finished(instanceId);
    assert.equal(view.status, 1);
    assert.equal(view.statusDesc, 'SUCCESS');
    assert.equal(view.flowName, 'outuser');
    assert.equal(view.triggerTime, '2019-07-18 07:50:00');
    const graph = JSON.parse(String(view.graph)) as { tasks: Json[] };
    assert.equal(graph.tasks[0]?.taskName, 'tass');
    assert.equal(graph.tasks[0]?.status, 'SUCCESS');
    const taskInstId = String(graph.tasks[0]?.taskInstId);
    assert.match(taskInstId, /^\d+-20190718075000$/);

    const log = await call('GET', `/taskInstances?action=getLog&${as('u1')}&taskInstId=${taskInstId}`);
    assert.equal(log.status, 0, log.msg);
    const text = String((log.data as Json).log);
    assert.match(text, /\bhello\b/);
    const short = await call(
      'GET',
      `/taskInstances?action=getLog&${as('u1')}&taskInstId=${taskInstId}&maxLength=5`,
    );
    assert.equal(String((short.data as Json).log).length, 5);
  });

  it('switches the schedule with enable and disable, and shows the flow as imported', async () => {
    const get = async () =>
      (await call('GET', `/flows?action=get&${as('u1')}&flowId=${flowId}`)).data as Json;
    const detail = await get();
    assert.equal(detail.active, 0, 'imported flows are paused until enabled');
    assert.equal(detail.freq, '0 0 0 * * ? *');
    assert.equal(detail.cycle, 'D');
    assert.equal(detail.creator, 'u1');
    assert.equal(detail.hasEditPri, true);
    assert.deepEqual(JSON.parse(String(detail.parameters)), [{ key: 'REPLACE', value: 'lili1' }]);

    assert.equal((await call('POST', `/flows?action=enable&${as('u1')}`, { flowId })).status, 0);
    assert.equal((await get()).active, 1);
    // The engine's trigger (tenant enos:<orgId>) runs the Quartz cron as AWS would.
    const triggers = await fetch(`${runtime.apiUrl}/v1/flows/enos-${flowId}/triggers`, {
      headers: { 'x-sluice-tenant': 'enos:o15589291276491' },
    }).then((response) => response.json() as Promise<{ items: Json[] }>);
    assert.equal(triggers.items[0]?.awsExpression, 'cron(0 0 * * ? *)');
    assert.equal(triggers.items[0]?.enabled, true);
    const [nextRun] = (triggers.items[0]?.nextFireTimes ?? []) as string[];
    assert.match(String(nextRun), /T00:00:00\.000Z$/);
    assert.equal((await call('POST', `/flows?action=disable&${as('u1')}`, { flowId })).status, 0);
    assert.equal((await get()).active, 0);

    const exported = await call('GET', `/flows?action=export&${as('u1')}&flowId=${flowId}`);
    assert.equal((exported.data as Json).name, 'outuser');
    assert.equal((exported.data as Json).cron, '0 0 0 * * ? *');
    const mine = await call('GET', `/flows?action=getMyFlow&${as('u1')}&searchValue=OUT`);
    assert.deepEqual(mine.data, [
      { flowId: String(flowId), editable: true, flowName: 'outuser', cycle: 'D' },
    ]);
    const found = await call('POST', `/flows?action=search&${as('u1')}`, {
      expression: 'user',
      pagination: { pageNo: 0, pageSize: 10, sorters: [{ field: 'createTime', order: 'DESC' }] },
    });
    assert.deepEqual(found.data, [{ flowId: String(flowId), flowName: 'outuser' }]);
    const tree = await call('GET', `/directories?action=listWorkFlowDirs&${as('u1')}`);
    const etl = (((tree.data as Json[])[0]?.children ?? []) as Json[]).find((node) => node.title === 'etl');
    assert.deepEqual(etl?.children, [
      { title: 'outuser', key: flowId, type: 1, isDirectory: false, editable: true, children: [] },
    ]);
  });

  it('starts one periodic instance per scheduled time when its schedule fires, only while enabled', async () => {
    const tenant = { 'x-sluice-tenant': 'enos:o15589291276491' };
    const triggers = await fetch(`${runtime.apiUrl}/v1/flows/enos-${flowId}/triggers`, {
      headers: tenant,
    }).then((response) => response.json() as Promise<{ items: Json[] }>);
    const triggerId = String(triggers.items[0]?.id);
    // The entry point EventBridge Scheduler invokes (the local scheduler calls the same one).
    const fire = (scheduledTime: string) => fireTrigger({ triggerId, scheduledTime }, {} as never);
    const paused = await fire('2026-01-02T00:00:00Z');
    assert.match(String(paused.skipped), /disabled/);
    assert.equal((await call('POST', `/flows?action=enable&${as('u1')}`, { flowId })).status, 0);
    const first = await fire('2026-01-02T00:00:00Z');
    const again = await fire('2026-01-02T00:00:00Z');
    assert.equal(first.executionId, `${flowId}-20260102000000`);
    assert.equal(again.executionId, first.executionId, 'a redelivered event finds the same instance');
    const view = await finished(String(first.executionId));
    assert.equal(view.status, 1);
    assert.equal(view.type, 1, 'periodic');
    assert.equal(view.calDt, '2026-01-02');
    const periodic = await call('POST', `/flowInstances?action=search&${as('u1')}`, {
      type: 1,
      owner: 'u1',
      fromTriggerTime: Date.parse('2026-01-01T00:00:00Z'),
      toTriggerTime: Date.parse('2026-01-03T00:00:00Z'),
    });
    assert.deepEqual(
      ((periodic.data as Json).flowInsts as Json[]).map((instance) => instance.instanceId),
      [first.executionId],
    );
    assert.equal((await call('POST', `/flows?action=disable&${as('u1')}`, { flowId })).status, 0);
  });

  it('keeps flows inside their organisation, and lets visitors read but not run', async () => {
    const other = await call('GET', `/flows?action=get&${as('u1', 'o-other')}&flowId=${flowId}`);
    assert.equal(other.status, 62102);
    assert.match(other.msg, new RegExp(`Workflow ${flowId} does not exist`));
    assert.deepEqual((await call('GET', `/flows?action=getMyFlow&${as('u1', 'o-other')}`)).data, []);
    const visitor = await call('GET', `/flows?action=get&${as('u-visitor')}&flowId=${flowId}`);
    assert.equal(visitor.status, 0);
    assert.equal((visitor.data as Json).hasEditPri, false);
    const run = await call('POST', `/flows?action=trigger&${as('u-visitor')}`, { flowId });
    assert.equal(run.status, 62103);
    assert.match(run.msg, /may not change or run/);
    const stranger = await call('GET', `/flows?action=export&${as('u-stranger')}&flowId=${flowId}`);
    assert.equal(stranger.status, 62103);
  });

  it('runs one instance of a flow at a time: extra triggers wait, a waiting one can be cancelled', async () => {
    const imported = await call('POST', `/flows?action=import&${as('u1')}`, {
      flowName: 'slow',
      dirId,
      flowJson: { tasks: [task('nap', 'sleep 3; echo ${WHO}')], parameters: [{ key: 'WHO', value: 'me' }] },
    });
    assert.equal(imported.status, 0, imported.msg);
    const slow = (imported.data as Json).flowId as number;
    const ids: string[] = [];
    for (let i = 0; i < 3; i += 1) {
      const triggered = await call('POST', `/flows?action=trigger&${as('u1')}`, { flowId: slow });
      ids.push(String((triggered.data as Json).flowInstanceId));
    }
    assert.equal(new Set(ids).size, 3, 'instances of the same second get distinct ids');
    const [first, second, third] = ids as [string, string, string];
    assert.equal((await instance(second)).status, 5, 'WAIT while the first runs');
    assert.equal(
      (await call('POST', `/flowInstances?action=cancel&${as('u1')}`, { flowInstId: third })).status,
      0,
    );
    assert.equal((await instance(third)).status, 8);

    const waiting = await call('POST', `/flowInstances?action=search&${as('u1')}`, {
      status: '5',
      expression: 'slow',
    });
    assert.deepEqual(
      ((waiting.data as Json).flowInsts as Json[]).map((view) => view.instanceId),
      [second],
    );
    const a = await finished(first);
    const b = await finished(second);
    assert.equal(a.status, 1);
    assert.equal(b.status, 1);
    assert.ok(String(b.startTime) >= String(a.endTime), `${b.startTime} starts after ${a.endTime}`);
    assert.equal((await instance(third)).status, 8, 'the cancelled instance never ran');

    const all = await call('POST', `/flowInstances?action=search&${as('u1')}`, {
      expression: 'slow',
      status: '1,8',
      type: 'manual',
      pagination: { pageNo: 0, pageSize: 2, sorters: [{ field: 'triggerTime', order: 'ASC' }] },
    });
    assert.equal((all.data as Json).count, 3);
    assert.equal(((all.data as Json).flowInsts as Json[]).length, 2);
    const badSort = await call('POST', `/flowInstances?action=search&${as('u1')}`, {
      pagination: { sorters: [{ field: 'flowName' }] },
    });
    assert.equal(badSort.status, 62102);
    assert.match(badSort.msg, /illegal sorted by field/);
  });

  it('never runs two instances of a flow at once, however many triggers arrive together', async () => {
    const imported = await call('POST', `/flows?action=import&${as('u1')}`, {
      flowName: 'crowded',
      dirId,
      flowJson: { tasks: [task('work', 'sleep 0.3')] },
    });
    const crowded = (imported.data as Json).flowId as number;
    const triggered = await Promise.all(
      [0, 1, 2, 3].map(() => call('POST', `/flows?action=trigger&${as('u1')}`, { flowId: crowded })),
    );
    const ids = triggered.map((answer) => String((answer.data as Json).flowInstanceId));
    assert.equal(new Set(ids).size, 4);
    let mostAtOnce = 0;
    const views = await until(
      'every instance to end',
      async () => {
        const current = await Promise.all(ids.map((id) => instance(id)));
        mostAtOnce = Math.max(mostAtOnce, current.filter((view) => view.status === 2).length);
        return current.every((view) => view.status === 1) ? current : undefined;
      },
      30_000,
    );
    assert.equal(mostAtOnce, 1, 'at most one RUNNING at any poll');
    const spans = views
      .map((view) => [String(view.startTime), String(view.endTime)] as const)
      .sort((a, b) => a[0].localeCompare(b[0]));
    for (let i = 1; i < spans.length; i += 1) {
      assert.ok(
        (spans[i]?.[0] ?? '') >= (spans[i - 1]?.[1] ?? ''),
        `instance ${i} started after the one before ended`,
      );
    }
  });

  it('breaks a run lock whose holder can no longer end it, so a crash never leaves a flow queued forever', async () => {
    const imported = await call('POST', `/flows?action=import&${as('u1')}`, {
      flowName: 'healing',
      dirId,
      flowJson: { tasks: [task('ok', 'true')] },
    });
    const healing = (imported.data as Json).flowId as number;
    // What a process that died after taking the lock leaves: a lock naming an instance that never started.
    await dependencies().store.create({
      key: { partition: `enos#flowrun#${healing}`, sort: 'lock' },
      data: { instanceId: `${healing}-gone`, takenAt: '2020-01-01T00:00:00.000Z' },
    });
    const triggered = await call('POST', `/flows?action=trigger&${as('u1')}`, { flowId: healing });
    const view = await finished(String((triggered.data as Json).flowInstanceId));
    assert.equal(view.status, 1);
  });

  it('substitutes parameters into commands as data, never as shell syntax (updateAndTrigger)', async () => {
    const imported = await call('POST', `/flows?action=import&${as('u1')}`, {
      flowName: 'quoted',
      dirId,
      flowJson: {
        tasks: [task('say', 'echo ${REPLACE}')],
        parameters: '[{"key":"REPLACE","value":"lili1"}]',
      },
    });
    const quoted = (imported.data as Json).flowId as number;
    const triggered = await call('POST', `/flows?action=updateAndTrigger&${as('u1')}`, {
      flowId: quoted,
      parameters: [{ key: 'REPLACE', value: 'x; echo INJECTED $(id)' }],
    });
    assert.equal(triggered.status, 0, triggered.msg);
    const id = String((triggered.data as Json).flowInstanceId);
    const view = await finished(id);
    assert.equal(view.status, 1);
    assert.deepEqual(JSON.parse(String(view.parameters)), [
      { key: 'REPLACE', value: 'x; echo INJECTED $(id)' },
    ]);
    const taskInstId = String((JSON.parse(String(view.graph)) as { tasks: Json[] }).tasks[0]?.taskInstId);
    const log = String(
      ((await call('GET', `/taskInstances?action=getLog&${as('u1')}&taskInstId=${taskInstId}`)).data as Json)
        .log,
    );
    assert.match(log, /x; echo INJECTED \$\(id\)/);
    assert.ok(!/uid=/.test(log), 'the command substitution was not run');
  });

  it('honours a requested flowId when it is free and picks a new one when it is taken', async () => {
    const first = await call('POST', `/flows?action=import&${as('u1')}`, {
      ...seedFlow(dirId, 'pinned'),
      flowId: 777777,
    });
    assert.deepEqual(first.data, { flowId: 777777 });
    const second = await call('POST', `/flows?action=import&${as('u1')}`, {
      ...seedFlow(dirId, 'pinned-2'),
      flowId: 777777,
    });
    assert.equal(second.status, 0);
    assert.notEqual((second.data as Json).flowId, 777777);
    assert.equal((await call('GET', `/flows?action=delete&${as('u1')}&flowId=777777`)).status, 0);
    const gone = await call('GET', `/flows?action=get&${as('u1')}&flowId=777777`);
    assert.equal(gone.status, 62102);
  });

  it('refuses bad input with the documented codes and messages, importing nothing', async () => {
    const before = await call('GET', `/flows?action=getMyFlow&${as('u1')}`);
    const refusals: Array<[string, unknown, number, RegExp]> = [
      [
        `/flows?action=import&${as('u1')}`,
        { ...seedFlow(dirId), flowName: undefined },
        62102,
        /^Invalid parameter: flowName$/,
      ],
      [
        `/flows?action=import&${as('u1')}`,
        seedFlow('no-such-dir', 'x1'),
        62102,
        /^Directory does not exist$/,
      ],
      [
        `/flows?action=import&${as('u1')}`,
        seedFlow(dirId),
        62102,
        /^Workflow validation failed: Flow name must be unique$/,
      ],
      [
        `/flows?action=import&${as('u1')}`,
        seedFlow(dirId, 'x2', { relations: [{ sourceTaskName: 'tass', targetTaskName: 'ghost' }] }),
        62102,
        /unknown target task "ghost"/,
      ],
      [
        `/flows?action=import&${as('u1')}`,
        seedFlow(dirId, 'x3', {
          tasks: [task('a', 'true'), task('b', 'true')],
          relations: [
            { sourceTaskName: 'a', targetTaskName: 'b' },
            { sourceTaskName: 'b', targetTaskName: 'a' },
          ],
        }),
        62102,
        /Workflow validation failed: .*cycle/i,
      ],
      [`/flows?action=import&${as('u1')}`, seedFlow(dirId, 'x4', { cron: '0 61 * * * ? *' }), 62102, /cron/],
      [
        `/flows?action=import&${as('u1')}`,
        seedFlow(dirId, 'x5', { cron: '*/10 * * * * ? *' }),
        62102,
        /once a minute/,
      ],
      [
        `/flows?action=import&${as('u1')}`,
        seedFlow(dirId, 'x6', { tasks: [task('a', 'echo ${NOPE}')] }),
        62102,
        /NOPE/,
      ],
      [`/flows?action=import&${as('u1')}`, '{"flowName": ', 62102, /^Incorrect parameter/],
      [`/flows?action=explode&${as('u1')}`, {}, 62102, /^Invalid parameter: action/],
      [
        `/flows?action=import&orgId=o15589291276491`,
        seedFlow(dirId, 'x7'),
        62102,
        /^Invalid parameter: userId$/,
      ],
      [`/flows?action=import&userId=u1`, seedFlow(dirId, 'x8'), 62102, /^Invalid parameter: orgId$/],
      [
        `/directories?action=create&${as('u1')}`,
        { parentId: 'nope', dirName: 'z' },
        62102,
        /^parentId not found$/,
      ],
      [
        `/directories?action=create&${as('u1')}`,
        { parentId: dirId },
        62102,
        /^param: dirName cannot be empty$/,
      ],
    ];
    for (const [path, body, status, message] of refusals) {
      const refused = await call('POST', path, body);
      assert.equal(refused.status, status, `${path} ${JSON.stringify(body).slice(0, 80)} → ${refused.msg}`);
      assert.match(refused.msg, message);
      assert.equal(refused.data, null);
    }
    const sameDir = await call('POST', `/directories?action=create&${as('u1')}`, {
      parentId: await rootDir(),
      dirName: 'etl',
    });
    assert.match(sameDir.msg, /A directory of the same name already exists/);
    const log = await call('GET', `/taskInstances?action=getLog&${as('u1')}&taskInstId=1-nothing`);
    assert.equal(log.status, 62102);
    assert.equal(log.msg, 'Instance not found');
    const after = await call('GET', `/flows?action=getMyFlow&${as('u1')}`);
    assert.deepEqual(after.data, before.data, 'nothing was half-imported');
    // Nor in the engine: one canonical flow per EnOS flow, none left by a refused import.
    const engineFlows = await fetch(`${runtime.apiUrl}/v1/flows?limit=1000`, {
      headers: { 'x-sluice-tenant': 'enos:o15589291276491' },
    }).then((response) => response.json() as Promise<{ items: Json[] }>);
    assert.equal(engineFlows.items.length, (after.data as Json[]).length);
  });

  it('answers 62109 when the deployment runs no command tasks, importing nothing', async () => {
    const plain = await startLocalRuntime(ephemeralSettings({ commandTasks: false }));
    try {
      const send = async (path: string, body?: unknown) => {
        const response = await fetch(`${plain.apiUrl}${base}${path}`, {
          method: body === undefined ? 'GET' : 'POST',
          headers: { 'content-type': 'application/json' },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        return (await response.json()) as { status: number; msg: string; data: unknown };
      };
      const tree = await send(`/directories?action=listWorkFlowDirs&${as('u1')}`);
      const root = String((tree.data as Json[])[0]?.key);
      const refused = await send(`/flows?action=import&${as('u1')}`, seedFlow(root));
      assert.equal(refused.status, 62109);
      assert.match(refused.msg, /^Workflow creating failed: command tasks are disabled in this deployment/);
      assert.deepEqual((await send(`/flows?action=getMyFlow&${as('u1')}`)).data, []);
    } finally {
      await plain.stop();
    }
  });
});
