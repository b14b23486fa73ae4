import type { Mapping } from '../flow/model.ts';
import { type JsonObject, readPath, writePath } from './json-path.ts';

/** Why a mapping could not be applied; fails the task (unless the mapping is tolerant). */
export class MappingError extends Error {
  override readonly name = 'MappingError';
}

/**
 * Applies mappings to a scratch document `{context, input, output, item, index}`
 * (Rill Flow's model) and returns it. A mapping copies `source` (or the
 * constant `value`) to `target`; a missing source fails unless `tolerance`.
 */
function apply(document: JsonObject, mappings: readonly Mapping[]): JsonObject {
  for (const mapping of mappings) {
    let value = mapping.value;
    if (mapping.source !== undefined) {
      const read = readPath(document, mapping.source);
      if (read.found) value = read.value;
      else if (mapping.value === undefined) {
        if (mapping.tolerance) continue;
        throw new MappingError(
          `mapping source ${mapping.source} not found (set tolerance: true to allow this)`,
        );
      }
    }
    writePath(document, mapping.target, structuredClone(value));
  }
  return document;
}

export interface Scope {
  /** The foreach item and its index, inside a foreach iteration. */
  item?: unknown;
  index?: number;
}

/**
 * A task's input: without input mappings, the whole context (plus the item
 * inside a foreach); with them, only what they put under `$.input`.
 */
export function mapInput(context: JsonObject, mappings: readonly Mapping[], scope: Scope = {}): JsonObject {
  if (mappings.length === 0) {
    return structuredClone(
      scope.index === undefined ? context : { ...context, item: scope.item, index: scope.index },
    );
  }
  const document = apply({ context: structuredClone(context), input: {}, ...scope }, mappings);
  return (document.input as JsonObject) ?? {};
}

/** The context after a task: output mappings write into `$.context` (reading `$.input`/`$.output`). */
export function mapOutput(
  context: JsonObject,
  input: JsonObject,
  output: unknown,
  mappings: readonly Mapping[],
  scope: Scope = {},
): JsonObject {
  if (mappings.length === 0) return context;
  const document = apply({ context: structuredClone(context), input, output, ...scope }, mappings);
  return document.context as JsonObject;
}
