import { benchApi } from './api.ts';
import { benchBundles } from './bundles.ts';
import { benchCompile } from './compile.ts';
import { benchEngine } from './engine.ts';
import { benchTriggers } from './triggers.ts';

/**
 * `npm run bench`: prints one JSON object per line, {"metric","value","unit"}
 * (with "baseline" and "target" where the issue names them). Figures, not
 * assertions: compare them across versions.
 */
benchCompile();
await benchEngine();
await benchTriggers();
await benchBundles(5);
await benchApi(Number(process.env.SLUICE_BENCH_SECONDS ?? 10));
