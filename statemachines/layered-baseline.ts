import { buildGraph, topologicalLevels } from '../lambdas/core/flow/graph.ts';
import type { FlowDescriptor, Task } from '../lambdas/core/flow/model.ts';
import { validateFlow } from '../lambdas/core/flow/validate.ts';
import type { AslDefinition } from '../lambdas/ports/orchestrator.ts';
import {
  type CompileOptions,
  checkSize,
  compileTask,
  sharedParameters,
  type TaskCompiler,
  taskCompiler,
} from './compile.ts';

/**
 * BENCHMARK BASELINE ONLY — never deployed, never used by the engine.
 *
 * The Kedro-style compilation of a DAG: one `Parallel` state per topological
 * level (level k = tasks whose longest chain of upstreams has k edges), the
 * levels chained one after the other. It works for any DAG and needs no
 * gates, but every level is a barrier: a task waits for *every* task of the
 * level before, related or not. `bench/compile.ts` compares definition size
 * and compile time with {@link compileFlow}; the graph helpers' makespans
 * (`criticalPath` vs `layeredMakespan`) show what the barriers cost.
 *
 * Task states are those of the real compiler minus `T:await` (the barrier
 * replaces the gate), so the `run` payload carries no `skip`.
 */
export function compileLayeredBaseline(descriptor: FlowDescriptor, options: CompileOptions): AslDefinition {
  validateFlow(descriptor);
  const compiler = taskCompiler(descriptor, options, layeredSubgraph);
  const levels = layeredStates(descriptor.tasks, '', undefined, compiler);
  const definition: AslDefinition = {
    Comment: `BENCHMARK BASELINE (layered) of flow "${descriptor.name}": one Parallel per topological level; each level waits for the whole level before it`,
    StartAt: SETUP_STATE,
    States: {
      [SETUP_STATE]: {
        Type: 'Pass',
        Comment: 'Adds the runner (fn) to the execution input; every level passes it on unchanged',
        Parameters: sharedParameters(descriptor, options),
        Next: levels.StartAt,
      },
      ...levels.States,
    },
  };
  checkSize(definition, descriptor, options);
  return definition;
}

/** Name of the first state (a space keeps it apart from task state names). */
const SETUP_STATE = 'set up';

function layeredSubgraph(
  tasks: readonly Task[],
  prefix: string,
  scope: string,
  compiler: TaskCompiler,
): AslDefinition {
  return layeredStates(tasks, prefix, scope, compiler);
}

function layeredStates(
  tasks: readonly Task[],
  prefix: string,
  scope: string | undefined,
  compiler: TaskCompiler,
): AslDefinition {
  const byName = new Map(tasks.map((task) => [task.name, task]));
  const levels = topologicalLevels(buildGraph(tasks));
  const levelName = (level: number) => (prefix ? `${prefix.slice(0, -1)}:level ${level}` : `level ${level}`);
  const states: Record<string, unknown> = {};
  levels.forEach((names, level) => {
    const last = level === levels.length - 1;
    states[levelName(level)] = {
      Type: 'Parallel',
      Comment: `Level ${level}: ${names.length} task${names.length === 1 ? '' : 's'}${level > 0 ? `, after every task of level ${level - 1}` : ''}`,
      Branches: names.map((name) => compileTask(byName.get(name) as Task, 0, prefix, scope, compiler)),
      // Levels pass their input on; the last level of a foreach iteration outputs `{}` to keep the Map result small.
      ...(last && prefix ? { ResultSelector: {} } : { ResultPath: null }),
      ...(last ? { End: true } : { Next: levelName(level + 1) }),
    };
  });
  return { StartAt: levelName(0), States: states };
}
