import { startLocalRuntime } from '../dev-server/runtime.ts';
import { ephemeralSettings } from '../dev-server/settings.ts';
import { LocalOrchestrator } from '../lambdas/adapters/local/local-orchestrator.ts';
import { dependencies } from '../lambdas/composition/dependencies.ts';
import { type RunnerRequest, taskActionOf } from '../lambdas/core/engine/task-actions.ts';
import { buildGraph, criticalPath, type TaskGraph } from '../lambdas/core/flow/graph.ts';
import type { FlowDescriptor } from '../lambdas/core/flow/model.ts';
import { flowDescriptorSchema } from '../lambdas/core/flow/model.ts';
import type { AslDefinition, ExecutionOutcome } from '../lambdas/ports/orchestrator.ts';
import { compileFlow } from '../statemachines/compile.ts';
import { compileLayeredBaseline } from '../statemachines/layered-baseline.ts';
import { randomFlow as randomDag } from './compile.ts';
import { report, round } from './report.ts';

/** The compile benchmark's seeded random DAGs (non-series-parallel), as no-op pass tasks. */
function randomFlow(tasks: number, seed: number): FlowDescriptor {
  const shape = randomDag(tasks, 'http', seed);
  return flowDescriptorSchema.parse({
    name: shape.name,
    tasks: shape.tasks.map(({ name, dependsOn }) => ({ name, kind: 'pass', dependsOn })),
  });
}

/**
 * A stand-in for the task runner that keeps join gates in memory and makes
 * each task take its simulated duration: it measures the schedule the
 * generated definition and the local orchestrator produce, not store latency.
 */
class SimulatedRunner {
  readonly descriptor: FlowDescriptor;
  readonly graph: TaskGraph;
  readonly duration: (name: string) => number;
  readonly release: (token: string) => Promise<void>;
  readonly arrived = new Map<string, Set<string>>();
  readonly parked = new Map<string, string>();

  constructor(
    descriptor: FlowDescriptor,
    duration: (name: string) => number,
    release: (token: string) => Promise<void>,
  ) {
    this.descriptor = descriptor;
    this.graph = buildGraph(descriptor.tasks);
    this.duration = duration;
    this.release = release;
  }

  private async open(task: string): Promise<void> {
    const token = this.parked.get(task);
    const upstreams = this.graph.upstream.get(task)?.length ?? 0;
    if (token && (this.arrived.get(task)?.size ?? 0) >= upstreams) {
      this.parked.delete(task);
      await this.release(token);
    }
  }

  async handle(request: RunnerRequest): Promise<unknown> {
    // What the real runner does first: read the state's payload against the flow.
    const action = taskActionOf(request, this.descriptor);
    if (action.action === 'await') {
      this.parked.set(action.task, action.token);
      await this.open(action.task);
      return {};
    }
    const ms = this.duration(action.task);
    if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
    for (const next of this.graph.downstream.get(action.task) ?? []) {
      let set = this.arrived.get(next);
      if (!set) {
        set = new Set();
        this.arrived.set(next, set);
      }
      set.add(action.task);
      await this.open(next);
    }
    return { done: true };
  }
}

/** Runs one definition through the local orchestrator with simulated tasks; returns the wall time in ms. */
async function simulate(
  definition: AslDefinition,
  descriptor: FlowDescriptor,
  duration: (name: string) => number,
): Promise<number> {
  let runner: SimulatedRunner | undefined;
  let finished: (outcome: ExecutionOutcome) => void = () => undefined;
  const ended = new Promise<ExecutionOutcome>((resolve) => {
    finished = resolve;
  });
  const orchestrator = new LocalOrchestrator({
    invokeRunner: (action) => (runner as SimulatedRunner).handle(action),
    onExecutionEnded: async (_id, outcome) => finished(outcome),
    validate: false,
  });
  runner = new SimulatedRunner(descriptor, duration, (token) =>
    orchestrator.sendTaskSuccess(token, { skip: false }),
  );
  const machine = await orchestrator.deploy('bench', definition);
  const started = performance.now();
  await orchestrator.start(machine, 'bench-execution');
  const outcome = await ended;
  if (outcome.status !== 'SUCCEEDED') throw new Error(`simulated run ${outcome.status}: ${outcome.cause}`);
  return performance.now() - started;
}

const runnerName = { runnerFunction: 'sluice-task-runner' };

/** Makespan ÷ critical path on random non-series-parallel DAGs, gated compile vs the layered baseline. */
async function benchMakespan(): Promise<void> {
  const ratios: number[] = [];
  const layered: number[] = [];
  for (const seed of [11, 12, 13]) {
    const descriptor = randomFlow(40, seed);
    // Simulated durations between 40 and 119 ms, fixed per task name and seed.
    const durations = new Map(
      descriptor.tasks.map((task, index) => [task.name, 40 + ((index * 37 + seed * 11) % 80)]),
    );
    const duration = (name: string) => durations.get(name) ?? 0;
    const graph = buildGraph(descriptor.tasks);
    const best = criticalPath(graph, duration).length;
    ratios.push((await simulate(compileFlow(descriptor, runnerName), descriptor, duration)) / best);
    layered.push(
      (await simulate(compileLayeredBaseline(descriptor, runnerName), descriptor, duration)) / best,
    );
  }
  const mean = (values: number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;
  report({
    metric: 'makespan_ratio',
    value: round(mean(ratios), 3),
    unit: 'ratio',
    baseline: round(mean(layered), 3),
    target: '<= 1.05',
  });
  report({ metric: 'makespan_ratio_layered', value: round(mean(layered), 3), unit: 'ratio' });
}

/** Engine time per task of a 1,000-task no-op flow: compiled definition + local orchestrator + simulated runner. */
async function benchOverhead(): Promise<void> {
  const descriptor = randomFlow(1000, 7);
  const definition = compileFlow(descriptor, runnerName);
  await simulate(definition, descriptor, () => 0); // warm-up
  const samples: number[] = [];
  for (let run = 0; run < 3; run += 1) samples.push(await simulate(definition, descriptor, () => 0));
  const layeredDefinition = compileLayeredBaseline(descriptor, runnerName);
  const layered = await simulate(layeredDefinition, descriptor, () => 0);
  report({
    metric: 'overhead_ms_per_task',
    value: round(Math.min(...samples) / 1000, 3),
    unit: 'ms',
    baseline: round(layered / 1000, 3),
    target: '< 2',
  });
}

/**
 * The whole local engine as `npm start` runs it (task runner persisting runs,
 * gates, context and logs in dynalite): per-task cost of a 1,000-task no-op
 * flow, and executions per second of a 10-task flow, 50 at a time.
 */
async function benchPersisted(): Promise<void> {
  const runtime = await startLocalRuntime(ephemeralSettings());
  try {
    const { engine } = dependencies();
    const waitFor = async (ids: string[]) => {
      for (const id of ids) {
        for (;;) {
          const view = await engine.executions.describe('bench', id);
          if (view.execution.status === 'SUCCEEDED') break;
          if (view.execution.status !== 'RUNNING')
            throw new Error(`execution ${id}: ${view.execution.status}`);
          await new Promise((resolve) => setTimeout(resolve, 25));
        }
      }
    };

    const big = await engine.flows.create('bench', randomFlow(1000, 7));
    let started = performance.now();
    await waitFor([(await engine.executions.start('bench', big.id)).id]);
    report({
      metric: 'overhead_ms_per_task_persisted',
      value: round((performance.now() - started) / 1000, 2),
      unit: 'ms',
    });

    const small = await engine.flows.create('bench', randomFlow(10, 3));
    await waitFor([(await engine.executions.start('bench', small.id)).id]); // warm-up
    const count = 50;
    started = performance.now();
    const ids = await Promise.all(
      Array.from({ length: count }, async () => (await engine.executions.start('bench', small.id)).id),
    );
    await waitFor(ids);
    report({
      metric: 'executions_per_s_10task',
      value: round(count / ((performance.now() - started) / 1000), 1),
      unit: 'executions/s',
    });
  } finally {
    await runtime.stop();
  }
}

export async function benchEngine(): Promise<void> {
  await benchMakespan();
  await benchOverhead();
  await benchPersisted();
}
