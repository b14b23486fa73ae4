import { buildGraph, topologicalOrder } from '../flow/graph.ts';
import type { FlowDescriptor, Task } from '../flow/model.ts';
import type { TaskAction } from './task-actions.ts';

/**
 * State names of compiled flows, shared by the compiler (which names the
 * states) and the runner (which reads the name of the state invoking it,
 * `$$.State.Name`, to know the task and the action: payloads carry neither).
 *
 * A task's states are `<base>` and `<base>:<step>`, where `<base>` is the
 * task's name, inside a foreach prefixed with the foreach's base and a dot
 * (`fan.load`, `outer.inner.load`), because state names must be unique across
 * the whole definition. A base that, with the longest step suffix, would pass
 * Step Functions' 80-character limit is cut and tagged `~<n>`, n counting the
 * cut bases in compile order (each graph in topological order, a foreach's
 * sub-graph right after the foreach), so the tags depend on the descriptor
 * only. Task names have no `:`, `.` or `~`, so a state name splits at its
 * first `:` into base and step, and bases never collide.
 */

/** Step Functions' limit on the length of a state name. */
export const STATE_NAME_LIMIT = 80;
/** The longest step suffix a task's state gets (`:container`). */
const LONGEST_SUFFIX = ':container'.length;

/** What the runner does for a state, by step (`''` for the state named `<base>` itself). */
export const RUNNER_STEPS: Readonly<Record<string, TaskAction['action']>> = {
  '': 'run',
  await: 'await',
  async: 'start-async',
  // A wake-up wait's callback step (a timed wait's `:wait` is a Wait state, which invokes nothing).
  wait: 'start-async',
  complete: 'complete',
  // The Catch of an external step: `complete` with the step's failure.
  failed: 'complete',
};

/** Every task of a flow (foreach sub-graphs included) in compile order, with its base name and enclosing foreach names. */
function walk(
  tasks: readonly Task[],
  visit: (task: Task, base: string, foreach: readonly string[]) => void,
): void {
  let cut = 0;
  const graphOf = (graph: readonly Task[], prefix: string, foreach: readonly string[]) => {
    const byName = new Map(graph.map((task) => [task.name, task]));
    for (const name of topologicalOrder(buildGraph(graph))) {
      const task = byName.get(name) as Task;
      let base = prefix + task.name;
      if (base.length + LONGEST_SUFFIX > STATE_NAME_LIMIT) {
        const tag = `~${cut}`;
        cut += 1;
        base = base.slice(0, STATE_NAME_LIMIT - LONGEST_SUFFIX - tag.length) + tag;
      }
      visit(task, base, foreach);
      if (task.kind === 'foreach') graphOf(task.tasks, `${base}.`, [...foreach, task.name]);
    }
  };
  graphOf(tasks, '', []);
}

/** The base state name of every task of a (validated) flow, foreach sub-graphs included. */
export function stateBases(tasks: readonly Task[]): Map<Task, string> {
  const bases = new Map<Task, string>();
  walk(tasks, (task, base) => bases.set(task, base));
  return bases;
}

/** The task a state belongs to. */
export interface StateTarget {
  action: TaskAction['action'];
  /** The task's real name. */
  task: string;
  /** Names of the enclosing foreach tasks, outermost first; empty at top level. */
  foreach: readonly string[];
}

const indexes = new WeakMap<FlowDescriptor, Map<string, Omit<StateTarget, 'action'>>>();

/** Which task and action a runner state of the flow's definition stands for; undefined if none. */
export function stateTarget(descriptor: FlowDescriptor, stateName: string): StateTarget | undefined {
  let index = indexes.get(descriptor);
  if (!index) {
    const built = new Map<string, Omit<StateTarget, 'action'>>();
    walk(descriptor.tasks, (task, base, foreach) => built.set(base, { task: task.name, foreach }));
    index = built;
    indexes.set(descriptor, index);
  }
  const colon = stateName.indexOf(':');
  const base = colon < 0 ? stateName : stateName.slice(0, colon);
  const step = colon < 0 ? '' : stateName.slice(colon + 1);
  const target = index.get(base);
  const action = Object.hasOwn(RUNNER_STEPS, step) ? RUNNER_STEPS[step] : undefined;
  return target && action ? { ...target, action } : undefined;
}
