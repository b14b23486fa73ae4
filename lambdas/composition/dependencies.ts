import type { EnosService } from '../core/dialects/enos/service.ts';
import type { RillFlowService } from '../core/dialects/rill-flow/service.ts';
import type { BlobStore } from '../ports/blob-store.ts';
import type { MetadataStore } from '../ports/metadata-store.ts';
import { createAwsDependencies } from './aws.ts';
import type { Engine } from './engine.ts';

/** Everything a use case may need, injected so handlers never build clients themselves. */
export interface Dependencies {
  store: MetadataStore;
  blobs: BlobStore;
  engine: Engine;
  rillFlow: RillFlowService;
  enos: EnosService;
}

type DependencyFactory = () => Dependencies;

let factory: DependencyFactory = () => createAwsDependencies();
let built: Dependencies | undefined;

/**
 * Replaces the composition root. In Lambda nothing is installed and the AWS
 * root (configured from the environment) is used; the local runtime and the
 * tests install theirs before the first request.
 */
export function installDependencies(next: DependencyFactory | Dependencies): void {
  factory = typeof next === 'function' ? next : () => next;
  built = undefined;
}

/** The dependencies of this process, built once on first use. */
export function dependencies(): Dependencies {
  built ??= factory();
  return built;
}
