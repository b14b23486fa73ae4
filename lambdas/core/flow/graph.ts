/**
 * Graph helpers over a flow's tasks: the DAG whose edges are `dependsOn`
 * (an edge `a → b` means `b` lists `a` in `dependsOn`, so `a` runs first).
 * Used by validation (cycles, reachability), the compiler (branch order) and
 * the benchmarks (critical path, layered makespan).
 */

/** The part of a task the graph needs. */
export interface GraphNode {
  readonly name: string;
  readonly dependsOn: readonly string[];
}

export interface TaskGraph {
  /** Task names in descriptor order; a duplicated name counts once (its first occurrence). */
  readonly names: readonly string[];
  /** Position of each name in `names`. */
  readonly index: ReadonlyMap<string, number>;
  /** Known upstreams of each task, deduplicated, in `dependsOn` order (unknown names are left out). */
  readonly upstream: ReadonlyMap<string, readonly string[]>;
  /** Downstreams of each task, in descriptor order. */
  readonly downstream: ReadonlyMap<string, readonly string[]>;
}

/** Builds the graph; tolerant of unknown or duplicated names (validation reports those). */
export function buildGraph(nodes: readonly GraphNode[]): TaskGraph {
  const names: string[] = [];
  const index = new Map<string, number>();
  for (const node of nodes) {
    if (index.has(node.name)) continue;
    index.set(node.name, names.length);
    names.push(node.name);
  }
  const upstream = new Map<string, string[]>(names.map((name) => [name, []]));
  const downstream = new Map<string, string[]>(names.map((name) => [name, []]));
  const seen = new Set<string>();
  for (const node of nodes) {
    if (seen.has(node.name)) continue;
    seen.add(node.name);
    const ups = upstream.get(node.name) as string[];
    for (const dependency of node.dependsOn) {
      if (!index.has(dependency) || ups.includes(dependency)) continue;
      ups.push(dependency);
      (downstream.get(dependency) as string[]).push(node.name);
    }
  }
  return { names, index, upstream, downstream };
}

const upstreamsOf = (graph: TaskGraph, name: string): readonly string[] => graph.upstream.get(name) ?? [];
const downstreamsOf = (graph: TaskGraph, name: string): readonly string[] => graph.downstream.get(name) ?? [];

/** Tasks without upstreams, in descriptor order: where an execution starts. */
export const rootsOf = (graph: TaskGraph): string[] =>
  graph.names.filter((name) => upstreamsOf(graph, name).length === 0);

/**
 * Every task after all of its upstreams (Kahn's algorithm, ties in descriptor
 * order of readiness). Throws on a cycle: validate the flow first.
 */
export function topologicalOrder(graph: TaskGraph): string[] {
  const pending = new Map<string, number>();
  for (const name of graph.names) pending.set(name, upstreamsOf(graph, name).length);
  const order = rootsOf(graph);
  for (let head = 0; head < order.length; head += 1) {
    for (const next of downstreamsOf(graph, order[head] as string)) {
      const left = (pending.get(next) as number) - 1;
      pending.set(next, left);
      if (left === 0) order.push(next);
    }
  }
  if (order.length !== graph.names.length) throw new Error('the task graph has a cycle');
  return order;
}

/**
 * Levels of the Kedro-style layering: level 0 holds the roots, level k the
 * tasks whose longest chain of upstreams has k edges. Throws on a cycle.
 */
export function topologicalLevels(graph: TaskGraph): string[][] {
  const level = new Map<string, number>();
  const levels: string[][] = [];
  for (const name of topologicalOrder(graph)) {
    const depth = upstreamsOf(graph, name).reduce(
      (max, up) => Math.max(max, (level.get(up) as number) + 1),
      0,
    );
    level.set(name, depth);
    const members = levels[depth] ?? [];
    members.push(name);
    levels[depth] = members;
  }
  return levels;
}

/** The longest chain of tasks, weighted by task durations: the best possible makespan. */
export function criticalPath(
  graph: TaskGraph,
  duration: (name: string) => number,
): { length: number; path: string[] } {
  const finish = new Map<string, number>();
  const via = new Map<string, string | undefined>();
  let last: string | undefined;
  for (const name of topologicalOrder(graph)) {
    let start = 0;
    let from: string | undefined;
    for (const up of upstreamsOf(graph, name)) {
      const upFinish = finish.get(up) as number;
      if (from === undefined || upFinish > start) {
        start = upFinish;
        from = up;
      }
    }
    finish.set(name, start + duration(name));
    via.set(name, from);
    if (last === undefined || (finish.get(name) as number) > (finish.get(last) as number)) last = name;
  }
  const path: string[] = [];
  for (let at = last; at !== undefined; at = via.get(at)) path.unshift(at);
  return { length: last === undefined ? 0 : (finish.get(last) as number), path };
}

/**
 * Makespan when every level waits for the slowest task of the level before
 * (the layered baseline's barrier): the sum of each level's longest task.
 */
export const layeredMakespan = (graph: TaskGraph, duration: (name: string) => number): number =>
  topologicalLevels(graph).reduce((sum, level) => sum + Math.max(...level.map(duration)), 0);

/** Tasks reachable from `starts` along downstream edges (the starts included). */
export function reachableFrom(graph: TaskGraph, starts: Iterable<string>): Set<string> {
  const reached = new Set<string>(starts);
  const stack = [...reached];
  while (stack.length > 0) {
    for (const next of downstreamsOf(graph, stack.pop() as string)) {
      if (reached.has(next)) continue;
      reached.add(next);
      stack.push(next);
    }
  }
  return reached;
}

/**
 * One cycle per strongly connected component that has one (a self-dependency
 * included): `tasks` in flow order, `[a, b, c]` reads `a → b → c → a`,
 * starting at the component's first task in descriptor order and taking a
 * shortest way back to it; `component` lists every task on some cycle there.
 */
export function findCycles(graph: TaskGraph): Array<{ tasks: string[]; component: string[] }> {
  const cycles: Array<{ tasks: string[]; component: string[] }> = [];
  for (const component of stronglyConnectedComponents(graph)) {
    const members = new Set(component);
    const start = component.reduce((first, name) =>
      (graph.index.get(name) as number) < (graph.index.get(first) as number) ? name : first,
    );
    if (component.length === 1 && !downstreamsOf(graph, start).includes(start)) continue;
    // Breadth-first search inside the component for the shortest way back to `start`.
    const previous = new Map<string, string>();
    const queue = [start];
    let closing: string | undefined;
    for (let head = 0; head < queue.length && closing === undefined; head += 1) {
      const at = queue[head] as string;
      for (const next of downstreamsOf(graph, at)) {
        if (next === start) {
          closing = at;
          break;
        }
        if (!members.has(next) || previous.has(next)) continue;
        previous.set(next, at);
        queue.push(next);
      }
    }
    const cycle: string[] = [];
    for (let at = closing; at !== undefined && at !== start; at = previous.get(at)) cycle.unshift(at);
    cycles.push({ tasks: [start, ...cycle], component });
  }
  return cycles;
}

/** Tarjan's algorithm, iterative so that long chains do not overflow the stack. */
function stronglyConnectedComponents(graph: TaskGraph): string[][] {
  const order = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const components: string[][] = [];
  let counter = 0;
  for (const root of graph.names) {
    if (order.has(root)) continue;
    const work: Array<{ name: string; next: number }> = [{ name: root, next: 0 }];
    order.set(root, counter);
    low.set(root, counter);
    counter += 1;
    stack.push(root);
    onStack.add(root);
    while (work.length > 0) {
      const frame = work[work.length - 1] as { name: string; next: number };
      const edges = downstreamsOf(graph, frame.name);
      if (frame.next < edges.length) {
        const next = edges[frame.next] as string;
        frame.next += 1;
        if (!order.has(next)) {
          order.set(next, counter);
          low.set(next, counter);
          counter += 1;
          stack.push(next);
          onStack.add(next);
          work.push({ name: next, next: 0 });
        } else if (onStack.has(next)) {
          low.set(frame.name, Math.min(low.get(frame.name) as number, order.get(next) as number));
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent)
        low.set(parent.name, Math.min(low.get(parent.name) as number, low.get(frame.name) as number));
      if (low.get(frame.name) === order.get(frame.name)) {
        const component: string[] = [];
        let member: string | undefined;
        do {
          member = stack.pop() as string;
          onStack.delete(member);
          component.push(member);
        } while (member !== frame.name);
        components.push(component);
      }
    }
  }
  return components;
}
