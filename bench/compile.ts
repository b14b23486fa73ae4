import { buildGraph, criticalPath, layeredMakespan } from '../lambdas/core/flow/graph.ts';
import { type FlowDescriptor, flowDescriptorSchema } from '../lambdas/core/flow/model.ts';
import type { AslDefinition } from '../lambdas/ports/orchestrator.ts';
import {
  type CompileOptions,
  compileFlow,
  DEFINITION_LIMIT_BYTES,
  definitionBytes,
} from '../statemachines/compile.ts';
import { compileLayeredBaseline } from '../statemachines/layered-baseline.ts';
import { percentile, report, round } from './report.ts';

/**
 * Compiler figures on seeded random DAGs (the same graphs every run): each
 * task after the third has 2–3 upstreams picked at random among the tasks
 * before it, so the graphs have cross edges and no series-parallel form.
 * Every figure has the layered (Kedro-style) baseline as `baseline`.
 *
 * - `compile_ms_<n>`: median time to validate and compile n http tasks;
 * - `asl_bytes_<n>`: minified definition size of n http tasks (the cheapest
 *   kind: two states per task), and `asl_bytes_2000_mixed` with a mix of
 *   external kinds (async, command, lambda: five or six states each);
 * - `makespan_s_1000`: best possible makespan (critical path) of 1,000 tasks
 *   lasting 1–10 s, against the layered baseline's, whose levels are barriers.
 */
export function benchCompile(): void {
  for (const count of [100, 1000, 5000]) {
    const flow = randomFlow(count, 'http', count);
    report({
      metric: `compile_ms_${count}`,
      value: round(medianMs(() => compileFlow(flow, OPTIONS))),
      unit: 'ms',
      baseline: round(medianMs(() => compileLayeredBaseline(flow, OPTIONS))),
      ...(count === 1000 ? { target: '< 50 ms' } : {}),
    });
  }
  for (const count of [1000, 2000]) {
    const flow = randomFlow(count, 'http', count);
    report({
      metric: `asl_bytes_${count}`,
      value: definitionBytes(compileFlow(flow, OPTIONS)),
      unit: 'bytes',
      baseline: definitionBytes(compileLayeredBaseline(flow, OPTIONS)),
      ...(count === 2000 ? { target: `< ${DEFINITION_LIMIT_BYTES}` } : {}),
    });
  }
  const mixed = randomFlow(2000, 'mixed', 2000);
  report({
    metric: 'asl_bytes_2000_mixed',
    value: definitionBytes(compileFlow(mixed, OPTIONS)),
    unit: 'bytes',
    baseline: definitionBytes(compileLayeredBaseline(mixed, OPTIONS)),
    target: `< ${DEFINITION_LIMIT_BYTES}`,
  });
  const graph = buildGraph(randomFlow(1000, 'http', 1000).tasks);
  const next = generator(42);
  const durations = new Map(graph.names.map((name) => [name, 1 + Math.floor(next() * 10)]));
  const duration = (name: string) => durations.get(name) as number;
  report({
    metric: 'makespan_s_1000',
    value: criticalPath(graph, duration).length,
    unit: 's',
    baseline: layeredMakespan(graph, duration),
  });
}

/** A deployment's resource names, as long as real ones (they are part of the definition's size). */
const OPTIONS: CompileOptions = {
  runnerFunction:
    'arn:aws:lambda:eu-west-1:123456789012:function:Sluice-Engine-TaskRunnerFunction1A2B3C4D-AbCdEfGhIjKl',
  ecsCluster: 'arn:aws:ecs:eu-west-1:123456789012:cluster/Sluice-Engine-CommandCluster1A2B3C4D-AbCdEfGhIjKl',
  ecsTaskDefinition: 'arn:aws:ecs:eu-west-1:123456789012:task-definition/SluiceEngineCommandTask1A2B3C4D:1',
  ecsSubnets: ['subnet-0123456789abcdef0', 'subnet-0123456789abcdef1'],
  ecsSecurityGroups: ['sg-0123456789abcdef0'],
  maxBytes: Number.POSITIVE_INFINITY,
};

/** mulberry32: a small seeded generator, so every run compiles the same graphs. */
function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const MIXED_KINDS = [
  'http',
  'http',
  'http',
  'http',
  'http',
  'pass',
  'pass',
  'command',
  'lambda',
  'async',
] as const;

/** n tasks `t0…`; from the fourth on, 2–3 distinct upstreams among the earlier ones. */
export function randomFlow(count: number, kinds: 'http' | 'mixed', seed: number): FlowDescriptor {
  const next = generator(seed);
  const tasks = Array.from({ length: count }, (_, i) => {
    const upstreams = new Set<number>();
    const wanted = i < 3 ? 0 : Math.min(i, 2 + Math.floor(next() * 2));
    while (upstreams.size < wanted) upstreams.add(Math.floor(next() * i));
    const kind = kinds === 'http' ? 'http' : MIXED_KINDS[Math.floor(next() * MIXED_KINDS.length)];
    const task = { name: `t${i}`, kind, dependsOn: [...upstreams].map((k) => `t${k}`) };
    switch (kind) {
      case 'http':
        return { ...task, url: 'https://api.example.com/hooks/task' };
      case 'command':
        return {
          ...task,
          command: 'python etl.py --day ${day}',
          retry: { maxRetries: 2 },
          timeoutSeconds: 3600,
        };
      case 'lambda':
        return { ...task, functionName: 'transform' };
      default:
        return task;
    }
  });
  return flowDescriptorSchema.parse({ name: `random-${count}`, tasks });
}

/** Median of 7 timed runs after 2 warm-up runs. */
function medianMs(compile: () => AslDefinition): number {
  for (let warm = 0; warm < 2; warm += 1) compile();
  const samples: number[] = [];
  for (let run = 0; run < 7; run += 1) {
    const started = performance.now();
    compile();
    samples.push(performance.now() - started);
  }
  return percentile(
    samples.sort((a, b) => a - b),
    50,
  );
}

if (import.meta.main) benchCompile();
