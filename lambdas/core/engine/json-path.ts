import { JSONPath } from 'jsonpath-plus';

/**
 * JSONPath as flows use it (Rill Flow's model): read a value, write a value
 * (creating the objects on the way), and test a filter expression. Filters
 * are evaluated by jsonpath-plus in its `safe` mode (no JavaScript eval).
 */

export type JsonObject = Record<string, unknown>;

const isObject = (value: unknown): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * What the path selects: a definite path (`$.a.b[0]`) its one value (or
 * `found: false`); an indefinite one (a wildcard, `..`, a filter or a union,
 * e.g. `$.results[*].path`) the list of every match, as Jayway JsonPath (Rill
 * Flow's) reads it.
 */
export function readPath(document: unknown, path: string): { found: boolean; value?: unknown } {
  const results = JSONPath({ path, json: document as object, wrap: true, eval: 'safe' }) as unknown[];
  if (isIndefinite(path)) return { found: true, value: results };
  return results.length === 0 ? { found: false } : { found: true, value: results[0] };
}

function isIndefinite(path: string): boolean {
  const parts = JSONPath.toPathArray(path) as string[];
  return parts.some(
    (part) =>
      part === '*' || part === '..' || part.startsWith('?(') || part.startsWith('(') || part.includes(','),
  );
}

/** Property names of a simple path (`$.a.b`, `$['a'].b`, `$.a[0]`); filters and wildcards can't be written to. */
function segmentsOf(path: string): Array<string | number> {
  const parts = JSONPath.toPathArray(path) as string[];
  if (parts[0] !== '$') throw new Error(`cannot write to ${path}: it must start with $`);
  return parts.slice(1).map((part) => {
    if (/^[*?]|^\(|^\.\.|^\^|^~/.test(part))
      throw new Error(`cannot write to ${path}: only plain paths can be written`);
    return /^\d+$/.test(part) ? Number(part) : part;
  });
}

/** Sets the value at a plain path, creating objects (or arrays for numeric steps) as needed. */
export function writePath(document: JsonObject, path: string, value: unknown): void {
  const segments = segmentsOf(path);
  if (segments.length === 0) throw new Error(`cannot replace the whole document with ${path}`);
  let node: JsonObject | unknown[] = document;
  segments.forEach((segment, index) => {
    const last = index === segments.length - 1;
    const container = node as Record<string | number, unknown>;
    if (last) {
      container[segment] = value;
      return;
    }
    const next = container[segment];
    if (typeof next !== 'object' || next === null) {
      container[segment] = typeof segments[index + 1] === 'number' ? [] : {};
    }
    node = container[segment] as JsonObject | unknown[];
  });
}

/** Whether a JSONPath filter (e.g. `$.output[?(@.score > 60)]`) selects anything in the document. */
export function matches(filter: string, document: JsonObject): boolean {
  // A filter applied to an object tests its members; Rill Flow conditions test the object itself,
  // so each top-level value is wrapped in an array whose single element the filter sees as `@`.
  const wrapped = Object.fromEntries(
    Object.entries(document).map(([key, value]) => [key, isObject(value) ? [value] : value]),
  );
  const results = JSONPath({ path: filter, json: wrapped, wrap: true, eval: 'safe' }) as unknown[];
  return results.length > 0;
}
