import { benchApi } from './api.ts';
import { benchBundles } from './bundles.ts';

/**
 * `npm run bench`: prints one JSON object per line, {"metric","value","unit"}.
 * Figures, not assertions: compare them across versions.
 */
await benchBundles(5);
await benchApi(Number(process.env.SLUICE_BENCH_SECONDS ?? 10));
