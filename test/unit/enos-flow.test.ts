import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { flowJsonSchema, parametersOf, translateFlow } from '../../lambdas/core/dialects/enos/flow.ts';
import { parseDescriptor } from '../../lambdas/core/engine/flows.ts';
import { DomainError } from '../../lambdas/core/errors.ts';

const ids = new Map<string, number>();
const taskIdOf = (name: string) => {
  if (!ids.has(name)) ids.set(name, 100 + ids.size);
  return ids.get(name) as number;
};
const translate = (flowJson: unknown) => translateFlow('f', flowJsonSchema.parse(flowJson), taskIdOf);
const refusal = (run: () => unknown): string => {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof DomainError, String(error));
    assert.equal(error.kind, 'validation');
    return error.message;
  }
  assert.fail('expected a refusal');
};

describe('EnOS Flow structure → canonical descriptor', () => {
  it('makes every task a command task with its timeout, retries, exit codes and Fargate size', () => {
    const { descriptor, tasks } = translate({
      parameters: '[{"key":"DAY","value":"2019-11-22"}]',
      tasks: [
        {
          name: '数据同步',
          cmd: 'sync --day ${DAY}',
          timeout: 300,
          retryLimit: 3,
          retryInterval: 10,
          successCode: '0,2',
          runMode: '{"taskMode":1,"cpu":0.5,"memory":1}',
        },
        { name: 'report', cmd: 'echo done', successCode: 0 },
      ],
      relations: [{ sourceTaskName: '数据同步', targetTaskName: 'report', rerun: true }],
    });
    const parsed = parseDescriptor(descriptor);
    const [sync, report] = parsed.tasks;
    assert.deepEqual(
      tasks.map((task) => [task.name, task.canonical]),
      [
        ['数据同步', 'task-1'],
        ['report', 'report'],
      ],
    );
    assert.equal(sync?.kind, 'command');
    if (sync?.kind !== 'command' || report?.kind !== 'command') return;
    assert.equal(sync.description, '数据同步');
    assert.equal(sync.command, 'sync --day ${DAY}');
    assert.deepEqual(sync.input, [{ source: '$.context.DAY', target: '$.input.DAY' }]);
    assert.deepEqual(sync.successExitCodes, [0, 2]);
    assert.equal(sync.timeoutSeconds, 300);
    assert.deepEqual(sync.retry, { maxRetries: 3, intervalSeconds: 10, backoffRate: 1 });
    assert.equal(sync.cpu, 0.5);
    assert.equal(sync.memoryGiB, 1);
    assert.deepEqual(report.dependsOn, ['task-1']);
    assert.equal(report.retry, undefined);
    assert.deepEqual(parsed.parameters, { DAY: '2019-11-22' });
  });

  it('reads parameters as a JSON string, a list or a map', () => {
    assert.deepEqual(parametersOf('[{"key":"A","value":1}]'), { A: '1' });
    assert.deepEqual(parametersOf([{ key: 'A', value: 'x' }]), { A: 'x' });
    assert.deepEqual(parametersOf({ A: 'y' }), { A: 'y' });
    assert.deepEqual(parametersOf(''), {});
    assert.match(
      refusal(() => parametersOf('[{')),
      /parameters is not valid JSON/,
    );
    assert.match(
      refusal(() => parametersOf([{ key: 'a b', value: 1 }])),
      /parameter key "a b"/,
    );
  });

  it('refuses what it cannot run, naming it', () => {
    const one = [{ name: 'a', cmd: 'true' }];
    assert.match(
      refusal(() => translate({ tasks: one, flowLinks: [{ linkId: 1 }] })),
      /flowLinks .* not supported/,
    );
    assert.match(
      refusal(() => translate({ tasks: [...one, { name: 'a', cmd: 'false' }] })),
      /task name a is used twice/,
    );
    assert.match(
      refusal(() => translate({ tasks: one, relations: [{ sourceTaskName: 'x', targetTaskName: 'a' }] })),
      /unknown source task "x"/,
    );
    assert.match(
      refusal(() => translate({ tasks: [{ name: 'a', cmd: 'echo ${X}' }] })),
      /\$\{X\}, which is no parameter/,
    );
    assert.match(
      refusal(() => translate({ tasks: [{ name: 'a', cmd: 'true', successCode: 'ok' }] })),
      /successCode "ok"/,
    );
    assert.equal(flowJsonSchema.safeParse({ tasks: [] }).success, false);
    assert.equal(flowJsonSchema.safeParse({ tasks: [{ name: 'a', cmd: '' }] }).success, false);
  });
});
