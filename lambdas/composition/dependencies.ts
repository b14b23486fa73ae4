import type { BlobStore } from '../ports/blob-store.ts';
import type { MetadataStore } from '../ports/metadata-store.ts';

/** Everything a use case may need, injected so handlers never build clients themselves. */
export interface Dependencies {
  store: MetadataStore;
  blobs: BlobStore;
}

type DependencyFactory = () => Dependencies;

let factory: DependencyFactory | undefined;
let built: Dependencies | undefined;

/**
 * Chooses the composition root. Lambda entry points install the AWS one at
 * module load (lambdas/composition/aws.ts); the local runtime and tests
 * install theirs before the first request.
 */
export function installDependencies(next: DependencyFactory | Dependencies): void {
  factory = typeof next === 'function' ? next : () => next;
  built = undefined;
}

/** The dependencies of this process, built once on first use. */
export function dependencies(): Dependencies {
  if (built) return built;
  if (!factory) throw new Error('No composition root installed: call installDependencies() first');
  built = factory();
  return built;
}
