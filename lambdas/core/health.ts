import type { BlobStore } from '../ports/blob-store.ts';
import type { MetadataStore } from '../ports/metadata-store.ts';

export type CheckState = 'ok' | 'unavailable';

export interface HealthReport {
  status: CheckState;
  checks: { metadata: CheckState; blobs: CheckState };
}

const within = async (probe: Promise<void>, timeoutMs: number): Promise<CheckState> => {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<CheckState>((resolve) => {
    timer = setTimeout(() => resolve('unavailable'), timeoutMs);
  });
  try {
    return await Promise.race([probe.then((): CheckState => 'ok'), timeout]);
  } catch {
    return 'unavailable';
  } finally {
    clearTimeout(timer);
  }
};

/** Readiness: every store Sluice writes to must answer within `timeoutMs`. */
export async function checkHealth(
  deps: { store: MetadataStore; blobs: BlobStore },
  timeoutMs = 2000,
): Promise<HealthReport> {
  const [metadata, blobs] = await Promise.all([
    within(deps.store.ping(), timeoutMs),
    within(deps.blobs.ping(), timeoutMs),
  ]);
  return { status: metadata === 'ok' && blobs === 'ok' ? 'ok' : 'unavailable', checks: { metadata, blobs } };
}
