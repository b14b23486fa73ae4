import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import { StateMachine } from 'aws-local-stepfunctions';
import fc from 'fast-check';
import { type RunnerRequest, type TaskAction, taskActionOf } from '../../lambdas/core/engine/task-actions.ts';
import { type FlowDescriptor, flowDescriptorSchema } from '../../lambdas/core/flow/model.ts';
import type { AslDefinition } from '../../lambdas/ports/orchestrator.ts';
import { type CompileOptions, compileFlow, definitionBytes } from '../../statemachines/compile.ts';
import { compileLayeredBaseline } from '../../statemachines/layered-baseline.ts';

/** asl-validator ships no types: its JS API, as documented in its README. */
const aslValidator = createRequire(import.meta.url)('asl-validator') as (
  definition: unknown,
  options?: { checkPaths?: boolean; checkArn?: boolean },
) => { isValid: boolean; errorsText: (separator?: string) => string };

/**
 * Properties of compiled flows over random DAGs (non-series-parallel ones
 * included): valid ASL, linear size, and — executed on aws-local-stepfunctions
 * with an in-memory simulation of the runner's join gates — every task runs
 * exactly once and only after all of its upstreams finished, with no barrier.
 *
 * How the library is driven (it has no task tokens): every Task state gets a
 * local handler (`overrides.taskResourceLocalHandlers`, keyed by state name)
 * that receives the state's resolved Parameters. The context object `$$`
 * resolves only from the `context` run option (static values: one token for
 * all, attempt always 0); the handler fills in `State.Name` (its key), reads
 * the payload with the runner's own {@link taskActionOf}, addresses gates by
 * (scope, task), and an `await` handler simply returns a promise that
 * resolves when the gate opens — which is what `.waitForTaskToken` means.
 */

type TaskInput = Record<string, unknown> & { name: string; kind: string; dependsOn: string[] };
type Json = Record<string, unknown>;

const RUNNER = 'sluice-runner';
const OPTIONS: CompileOptions = {
  runnerFunction: RUNNER,
  ecsCluster: 'sluice',
  ecsTaskDefinition: 'command:1',
};
const EXECUTION = 'exec-1';

function assertValidAsl(definition: AslDefinition): void {
  const { isValid, errorsText } = aslValidator(structuredClone(definition), {
    checkPaths: true,
    checkArn: true,
  });
  assert.ok(isValid, `asl-validator: ${errorsText('\n')}`);
}

// ---------------------------------------------------------------------------
// Random flows

const LEAF_KINDS = [
  'http',
  'pass',
  'return',
  'async',
  'command',
  'lambda',
  'wait',
  'wakeUp',
  'subflow',
] as const;

/** Task `i` of a random DAG: up to 3 upstreams among the tasks before it, a kind, and flags the simulation reads. */
function taskArbitrary(i: number, depth: number): fc.Arbitrary<TaskInput> {
  const kinds = depth < 2 ? [...LEAF_KINDS, 'foreach'] : [...LEAF_KINDS];
  return fc
    .record({
      upstreams: fc.subarray(
        Array.from({ length: i }, (_, k) => k),
        { maxLength: Math.min(3, i) },
      ),
      kind: fc.constantFrom(...kinds),
      longName: fc.integer({ min: 0, max: 7 }).map((n) => n === 0),
      retry: fc.boolean(),
      skip: fc.boolean(),
      items: fc.integer({ min: 0, max: 3 }),
    })
    .chain((spec) =>
      (spec.kind === 'foreach' ? dagArbitrary(depth + 1, 4) : fc.constant([] as TaskInput[])).map(
        (children) => makeTask(i, spec, children),
      ),
    );
}

const nameOf = (i: number, long: boolean) => (long ? `t${i}-${'x'.repeat(72)}` : `t${i}`);

function makeTask(
  i: number,
  spec: {
    upstreams: number[];
    kind: string;
    longName: boolean;
    retry: boolean;
    skip: boolean;
    items: number;
  },
  children: TaskInput[],
): TaskInput {
  const task: TaskInput = {
    name: nameOf(i, spec.longName),
    kind: spec.kind,
    dependsOn: [],
    // Read by the simulation only (zod strips unknown keys from the descriptor).
    sim: { upstreams: spec.upstreams, skip: spec.skip, items: spec.items },
  };
  if (spec.retry) task.retry = { maxRetries: 2, intervalSeconds: 1 };
  switch (spec.kind) {
    case 'http':
      task.url = 'http://example.com/hook';
      break;
    case 'return':
      task.condition = '$.input[?(@.stop)]';
      break;
    case 'async':
      task.heartbeatSeconds = 60;
      break;
    case 'command':
      task.command = 'echo hi';
      break;
    case 'lambda':
      task.functionName = 'user-fn';
      break;
    case 'wait':
      task.seconds = 1;
      break;
    case 'wakeUp':
      task.kind = 'wait';
      task.wakeUp = true;
      break;
    case 'subflow':
      task.flowId = 'child';
      task.wait = spec.items % 2 === 0;
      break;
    case 'foreach':
      task.items = '$.input.list';
      task.maxConcurrency = spec.items;
      task.tasks = children;
      break;
  }
  return task;
}

/** A random DAG of 1..maxTasks tasks, written in a random order (not necessarily topological). */
function dagArbitrary(depth: number, maxTasks: number): fc.Arbitrary<TaskInput[]> {
  return fc.integer({ min: 1, max: maxTasks }).chain((count) =>
    fc
      .tuple(
        fc.tuple(...Array.from({ length: count }, (_, i) => taskArbitrary(i, depth))),
        fc.shuffledSubarray(
          Array.from({ length: count }, (_, i) => i),
          { minLength: count, maxLength: count },
        ),
      )
      .map(([tasks, order]) => {
        for (const task of tasks) {
          const upstreams = (task.sim as { upstreams: number[] }).upstreams;
          task.dependsOn = upstreams.map((k) => (tasks[k] as TaskInput).name);
        }
        return order.map((k) => tasks[k] as TaskInput);
      }),
  );
}

const descriptorOf = (tasks: TaskInput[]): FlowDescriptor =>
  flowDescriptorSchema.parse({ name: 'random', tasks });

// ---------------------------------------------------------------------------
// The gate simulation

interface Located {
  task: TaskInput;
  upstreams: string[];
}

const EXTERNAL = new Set(['async', 'command', 'lambda', 'wait', 'subflow', 'foreach']);

/**
 * Implements the runner's side of task-actions.ts in memory: `await` parks
 * until the gate's last upstream finished, `run` runs inline tasks or prepares
 * external ones, `complete` finishes them. It records what a correct state
 * machine must guarantee and every violation of it.
 */
class GateSimulation {
  readonly tasks: TaskInput[];
  readonly descriptor: FlowDescriptor;
  readonly finished = new Set<string>();
  readonly counts = new Map<string, number>();
  readonly violations: string[] = [];
  readonly #waiters = new Map<string, () => void>();
  readonly #conditions: Array<{ ready: () => boolean; resolve: () => void }> = [];
  /** A run handler that waits for a condition before answering (the no-barrier property). */
  hold?: { key: string; until: () => boolean };
  /** Set once the execution is aborted: nothing parks any more. */
  #closed = false;

  constructor(tasks: TaskInput[]) {
    this.tasks = tasks;
    this.descriptor = descriptorOf(tasks);
  }

  count(what: string): number {
    return this.counts.get(what) ?? 0;
  }

  #bump(what: string): number {
    const next = this.count(what) + 1;
    this.counts.set(what, next);
    return next;
  }

  /** `fan[2].inner[0]` + `leaf` → the task and its upstreams' run names. */
  locate(scope: string | undefined, name: string): Located {
    let graph = this.tasks;
    for (const segment of scope ? scope.split('.') : []) {
      const match = /^(.+)\[(\d+)\]$/.exec(segment) as RegExpExecArray;
      graph = (graph.find((task) => task.name === match[1]) as TaskInput).tasks as TaskInput[];
    }
    const task = graph.find((candidate) => candidate.name === name);
    assert.ok(task, `unknown task ${scope ?? ''}/${name}`);
    const prefix = scope ? `${scope}.` : '';
    return { task, upstreams: task.dependsOn.map((upstream) => `${prefix}${upstream}`) };
  }

  #finish(key: string): void {
    if (this.finished.has(key)) this.violations.push(`${key} finished twice`);
    this.finished.add(key);
    for (const [waiting, release] of this.#waiters) {
      const { upstreams } = this.#parse(waiting);
      if (upstreams.every((upstream) => this.finished.has(upstream))) {
        this.#waiters.delete(waiting);
        release();
      }
    }
    for (const condition of [...this.#conditions]) {
      if (!condition.ready()) continue;
      this.#conditions.splice(this.#conditions.indexOf(condition), 1);
      condition.resolve();
    }
  }

  #parse(key: string): Located {
    const dot = key.lastIndexOf('.');
    // Run names are `scope.task`; task names contain no dots.
    return dot < 0 ? this.locate(undefined, key) : this.locate(key.slice(0, dot), key.slice(dot + 1));
  }

  /** The local handler of every Task state: dispatches on what the state sends. */
  handle = async (input: Json, state: string): Promise<unknown> => {
    const payload = input.Payload as Json | undefined;
    if (input.FunctionName === RUNNER && payload) return this.#runner(payload, state);
    if (input.Overrides) {
      const environment = ((input.Overrides as Json).ContainerOverrides as Array<{ Environment: Json[] }>)[0]
        ?.Environment as Array<{ Name: string; Value: string }>;
      const key = environment.find((variable) => variable.Name === 'SLUICE_TASK')?.Value as string;
      assert.deepEqual(((input.Overrides as Json).ContainerOverrides as Json[])[0]?.Command, [
        'sh',
        '-c',
        `echo ${key}`,
      ]);
      return this.#step(key, 'States.TaskFailed', true, { Containers: [{ ExitCode: 0 }] });
    }
    if (typeof input.StateMachineArn === 'string') {
      const key = String(input.Name)
        .replace(/^child:/, '')
        .replace(/-\d+$/, '');
      // Starting a child is not retried (execution names are single-use).
      return this.#step(key, 'States.TaskFailed', false, {
        ExecutionArn: `arn:aws:states:local:0:execution:child:${input.Name}`,
      });
    }
    const key = String(input.FunctionName).replace(/^user:/, '');
    return this.#step(key, 'States.TaskFailed', true, { Payload: { ok: true }, StatusCode: 200 });
  };

  /** An external step; one the policy retries fails its first try. */
  #step(key: string, error: string, retried: boolean, result: unknown): unknown {
    const { task } = this.#parse(key);
    if (!this.count(`run:${key}`)) this.violations.push(`${key}: external step before its run`);
    if (retried && task.retry && this.#bump(`step-try:${key}`) === 1)
      throw named(error, `${key} step attempt 1 failed`);
    this.#bump(`step:${key}`);
    return result;
  }

  async #runner(payload: Json, state: string): Promise<unknown> {
    // The library's context is the same for every state: name the state, as Step Functions does.
    const withName = (context: Json) => ({ ...context, State: { ...(context.State as Json), Name: state } });
    const request = 'c' in payload ? { ...payload, c: withName(payload.c as Json) } : withName(payload);
    const action: TaskAction = taskActionOf(request as unknown as RunnerRequest, this.descriptor);
    if (action.executionId !== EXECUTION)
      this.violations.push(`wrong executionId ${String(action.executionId)}`);
    const { scope } = action;
    const { task, upstreams } = this.locate(scope, action.task);
    const key = scope ? `${scope}.${task.name}` : task.name;
    const sim = task.sim as { skip: boolean; items: number };
    const kind = task.kind === 'wait' && task.wakeUp ? 'wakeUp' : task.kind;
    switch (action.action) {
      case 'await': {
        this.#bump(`await:${key}`);
        if (upstreams.length === 0) this.violations.push(`${key}: a gate without upstreams`);
        if (action.action !== 'await' || !action.token) this.violations.push(`${key}: await without a token`);
        await new Promise<void>((resolve) => {
          this.#waiters.set(key, resolve);
          if (this.#closed || upstreams.every((upstream) => this.finished.has(upstream))) {
            this.#waiters.delete(key);
            resolve();
          }
        });
        return { skip: sim.skip };
      }
      case 'run': {
        for (const upstream of upstreams)
          if (!this.finished.has(upstream))
            this.violations.push(`${key} ran before its upstream ${upstream} finished`);
        if (upstreams.length > 0 && action.action === 'run' && action.skip !== sim.skip)
          this.violations.push(`${key}: skip not passed on`);
        if (task.retry && this.#bump(`try:${key}`) === 1)
          throw named('Sluice.AttemptFailed', `${key} attempt 1 failed`);
        if (this.hold?.key === key) {
          const { until } = this.hold;
          await new Promise<void>((resolve) => {
            if (this.#closed || until()) resolve();
            else this.#conditions.push({ ready: until, resolve });
          });
        }
        this.#bump(`run:${key}`);
        const skipped = upstreams.length > 0 && sim.skip;
        if (!EXTERNAL.has(task.kind) || skipped) {
          this.#finish(key);
          return { Payload: { done: true, ...(skipped ? { skipped: true } : {}) } };
        }
        const prepared: Json = {
          command: `echo ${key}`,
          functionName: `user:${key}`,
          payload: {},
          until: new Date().toISOString(),
          indices: Array.from({ length: sim.items }, (_, index) => index),
          stateMachineArn: 'arn:aws:states:local:0:stateMachine:child',
          executionId: `child:${key}`,
        };
        if (kind === 'wakeUp') delete prepared.until;
        return { Payload: { done: false, prepared } };
      }
      case 'start-async':
        if (action.action !== 'start-async' || !action.token)
          this.violations.push(`${key}: start-async without a token`);
        // A wake-up wait has no retries: only async steps are retried.
        return this.#step(key, 'Sluice.AttemptFailed', kind === 'async', { callback: key });
      case 'complete': {
        this.#bump(`complete:${key}`);
        const expectsResult = !['foreach', 'wait'].includes(kind);
        const result = action.action === 'complete' ? action.result : undefined;
        if (expectsResult === (result === undefined))
          this.violations.push(`${key}: complete result ${JSON.stringify(result)}`);
        if (kind === 'foreach') {
          for (let index = 0; index < sim.items; index += 1)
            for (const inner of task.tasks as TaskInput[])
              if (!this.finished.has(`${key}[${index}].${inner.name}`))
                this.violations.push(`${key} completed before ${key}[${index}].${inner.name}`);
        }
        this.#finish(key);
        return { Payload: { done: true } };
      }
      default:
        throw new Error(`unknown action ${String((action as { action: unknown }).action)}`);
    }
  }

  /** Lets every parked handler return (after an abort), so no library timer outlives the test. */
  releaseAll(): void {
    this.#closed = true;
    for (const release of this.#waiters.values()) release();
    this.#waiters.clear();
    for (const condition of this.#conditions.splice(0)) condition.resolve();
  }

  /** Every run name the flow must produce, and whether each runs an external step. */
  expected(): Map<string, { task: TaskInput; skipped: boolean }> {
    const runs = new Map<string, { task: TaskInput; skipped: boolean }>();
    const visit = (tasks: TaskInput[], prefix: string) => {
      for (const task of tasks) {
        const key = `${prefix}${task.name}`;
        const skipped = task.dependsOn.length > 0 && (task.sim as { skip: boolean }).skip;
        runs.set(key, { task, skipped });
        if (task.kind === 'foreach' && !skipped)
          for (let index = 0; index < (task.sim as { items: number }).items; index += 1)
            visit(task.tasks as TaskInput[], `${key}[${index}].`);
      }
    };
    visit(this.tasks, '');
    return runs;
  }
}

const named = (name: string, message: string) => Object.assign(new Error(message), { name });

/** Every state of a definition, with its name. */
function statesOf(definition: { States: Record<string, unknown> }): Array<[string, Json]> {
  return Object.entries(definition.States).flatMap(([name, value]) => {
    const state = value as Json;
    const nested = [...((state.Branches as AslDefinition[] | undefined) ?? [])];
    if (state.ItemProcessor) nested.push(state.ItemProcessor as AslDefinition);
    return [[name, state] as [string, Json], ...nested.flatMap(statesOf)];
  });
}

/** Runs a definition on aws-local-stepfunctions with the simulation behind every Task state. */
async function execute(
  definition: AslDefinition,
  simulation: GateSimulation,
  timeoutMs = 5000,
): Promise<unknown> {
  const handlers: Record<string, (input: Json) => Promise<unknown>> = {};
  const noWait: Record<string, number> = {};
  const noPause: Record<string, number> = {};
  for (const [name, state] of statesOf(definition)) {
    if (state.Type === 'Task') handlers[name] = (input) => simulation.handle(input, name);
    if (state.Type === 'Wait') noWait[name] = 0;
    if (state.Retry) noPause[name] = 0;
  }
  const machine = new StateMachine(structuredClone(definition) as never, {
    validationOptions: { noValidate: true },
  });
  const run = machine.run(
    { executionId: EXECUTION },
    {
      overrides: {
        taskResourceLocalHandlers: handlers as never,
        waitTimeOverrides: noWait,
        retryIntervalOverrides: noPause,
      },
      context: {
        Execution: { Id: `arn:aws:states:local:0:execution:flow:${EXECUTION}`, Name: EXECUTION },
        Task: { Token: 'local-token' },
        State: { RetryCount: 0 },
      },
    },
  );
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`execution stalled for ${timeoutMs} ms: ${simulation.finished.size} runs finished`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([run.result, timeout]);
  } catch (error) {
    // A failed branch leaves its siblings parked at gates: free them so no library timer outlives the test.
    run.abort();
    simulation.releaseAll();
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/** The checks every execution of a compiled flow must pass. */
function assertExactlyOnceAfterUpstreams(simulation: GateSimulation): void {
  assert.deepEqual(simulation.violations, []);
  const expected = simulation.expected();
  for (const [key, { task, skipped }] of expected) {
    assert.equal(simulation.count(`run:${key}`), 1, `${key} runs once`);
    assert.equal(
      simulation.count(`await:${key}`),
      task.dependsOn.length > 0 ? 1 : 0,
      `${key} awaits its gate once`,
    );
    const external = EXTERNAL.has(task.kind);
    assert.equal(simulation.count(`complete:${key}`), external && !skipped ? 1 : 0, `${key} completes once`);
    const hasStep =
      external && !skipped && task.kind !== 'foreach' && !(task.kind === 'wait' && !task.wakeUp);
    assert.equal(simulation.count(`step:${key}`), hasStep ? 1 : 0, `${key} runs its external step once`);
    assert.ok(simulation.finished.has(key), `${key} finished`);
  }
  assert.equal(simulation.finished.size, expected.size, 'no unexpected task runs');
}

// ---------------------------------------------------------------------------

describe('compileFlow over random DAGs', () => {
  it('is valid ASL that runs every task exactly once, after all of its upstreams', async () => {
    await fc.assert(
      fc.asyncProperty(dagArbitrary(0, 12), async (tasks) => {
        const definition = compileFlow(descriptorOf(tasks), OPTIONS);
        assertValidAsl(definition);
        const simulation = new GateSimulation(tasks);
        assert.deepEqual(await execute(definition, simulation), { executionId: EXECUTION });
        assertExactlyOnceAfterUpstreams(simulation);
      }),
      { numRuns: 60 },
    );
  });

  it('has no barrier: any task not downstream of a slow task finishes while it runs', async () => {
    const flat = dagArbitrary(2, 20).map((tasks) =>
      tasks.map((task) => ({ ...task, kind: 'pass', retry: undefined })),
    );
    await fc.assert(
      fc.asyncProperty(flat, fc.nat(), async (tasks, pick) => {
        const definition = compileFlow(descriptorOf(tasks), OPTIONS);
        assertValidAsl(definition);
        const simulation = new GateSimulation(tasks);
        const slow = (tasks[pick % tasks.length] as TaskInput).name;
        const independent = independentOf(tasks, slow);
        simulation.hold = {
          key: slow,
          until: () => independent.every((name) => simulation.finished.has(name)),
        };
        await execute(definition, simulation);
        assertExactlyOnceAfterUpstreams(simulation);
      }),
      { numRuns: 40 },
    );
  });

  it('is a property the layered baseline fails: its levels are barriers', async () => {
    // a (slow) and b are roots, c depends on b only: the baseline makes c wait for a.
    const tasks: TaskInput[] = [
      { name: 'a', kind: 'pass', dependsOn: [], sim: { skip: false, items: 0 } },
      { name: 'b', kind: 'pass', dependsOn: [], sim: { skip: false, items: 0 } },
      { name: 'c', kind: 'pass', dependsOn: ['b'], sim: { skip: false, items: 0 } },
    ];
    const descriptor = descriptorOf(tasks);
    const held = (simulation: GateSimulation) => {
      simulation.hold = { key: 'a', until: () => simulation.finished.has('c') };
      return simulation;
    };
    await execute(compileFlow(descriptor, OPTIONS), held(new GateSimulation(tasks)));
    const baseline = compileLayeredBaseline(descriptor, OPTIONS);
    assertValidAsl(baseline);
    await assert.rejects(execute(baseline, held(new GateSimulation(tasks)), 300), /stalled/);
  });

  it('grows linearly: one more task adds a bounded number of bytes, whatever its upstreams', async () => {
    const leaf = dagArbitrary(2, 1).map((tasks) => tasks[0] as TaskInput);
    await fc.assert(
      fc.property(dagArbitrary(0, 25), leaf, fc.nat(), (tasks, extra, seed) => {
        const before = compileFlow(descriptorOf(tasks), OPTIONS);
        const upstreams = tasks.filter((_, index) => (seed >> index) % 2 === 1).map((task) => task.name);
        const added = { ...extra, name: 'extra', dependsOn: upstreams };
        const after = compileFlow(descriptorOf([...tasks, added]), OPTIONS);
        assertValidAsl(after);
        const growth = definitionBytes(after) - definitionBytes(before);
        // The largest kind (a command with 80-character names) takes about 2.6 KB.
        assert.ok(growth > 0 && growth <= 3000, `one ${String(extra.kind)} task added ${growth} bytes`);
      }),
      { numRuns: 25 },
    );
    // Edges are free: a DAG where every task depends on every earlier one (quadratic edges) still grows linearly.
    const dense = (count: number) =>
      descriptorOf(
        Array.from({ length: count }, (_, i) => ({
          name: `t${String(i).padStart(3, '0')}`,
          kind: 'pass',
          dependsOn: Array.from({ length: i }, (_, k) => `t${String(k).padStart(3, '0')}`),
        })),
      );
    const small = compileFlow(dense(200), OPTIONS);
    const large = compileFlow(dense(400), OPTIONS);
    assertValidAsl(large);
    const ratio = definitionBytes(large) / definitionBytes(small);
    assert.ok(ratio > 1.95 && ratio < 2.05, `400 vs 200 dense tasks: ×${ratio.toFixed(3)}`);
  });

  it('runs a 1,000-task random DAG (written out of order) with every task once, after its upstreams', async () => {
    let seed = 7;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const ordered: TaskInput[] = Array.from({ length: 1000 }, (_, i) => {
      const upstreams =
        i < 3
          ? []
          : [...new Set([0, 1, 2].map(() => Math.floor(random() * i)))].slice(
              0,
              2 + Math.floor(random() * 2),
            );
      return {
        name: `t${i}`,
        kind: 'pass',
        dependsOn: upstreams.map((k) => `t${k}`),
        sim: { skip: false, items: 0 },
      };
    });
    // Reversed: an interpreter running 40 branches at a time would deadlock on gates unless branches are topological.
    const tasks = [...ordered].reverse();
    const definition = compileFlow(descriptorOf(tasks), OPTIONS);
    assertValidAsl(definition);
    const simulation = new GateSimulation(tasks);
    await execute(definition, simulation, 20_000);
    assertExactlyOnceAfterUpstreams(simulation);
  });
});

/** Tasks neither downstream (transitively) of `slow` nor `slow` itself. */
function independentOf(tasks: TaskInput[], slow: string): string[] {
  const downstream = new Set([slow]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const task of tasks) {
      if (downstream.has(task.name) || !task.dependsOn.some((upstream) => downstream.has(upstream))) continue;
      downstream.add(task.name);
      grew = true;
    }
  }
  return tasks.map((task) => task.name).filter((name) => !downstream.has(name));
}
