import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { percentile, report, round } from './report.ts';

const projectRoot = join(import.meta.dirname, '..');

interface BundledFunction {
  module: string;
  entry: string;
}

interface TemplateResource {
  Type: string;
  Metadata?: Record<string, unknown>;
  Properties?: { Description?: string };
}

/** Synthesizes the app exactly as `cdk deploy` would (esbuild bundling) and finds each handler's bundle. */
function synthesize(outdir: string): BundledFunction[] {
  const synth = spawnSync(
    join(projectRoot, 'node_modules/.bin/cdk'),
    ['synth', '--quiet', '--output', outdir],
    {
      cwd: projectRoot,
      encoding: 'utf8',
      env: { ...process.env, CDK_DISABLE_VERSION_CHECK: '1' },
    },
  );
  if (synth.status !== 0) throw new Error(`cdk synth failed: ${synth.stderr}`);
  const functions: BundledFunction[] = [];
  for (const file of readdirSync(outdir).filter((name) => name.endsWith('.template.json'))) {
    const template = JSON.parse(readFileSync(join(outdir, file), 'utf8')) as {
      Resources: Record<string, TemplateResource>;
    };
    for (const resource of Object.values(template.Resources)) {
      const asset = resource.Metadata?.['aws:asset:path'];
      const module = /^Sluice [^/]+\/([^:]+):/.exec(resource.Properties?.Description ?? '')?.[1];
      if (resource.Type !== 'AWS::Lambda::Function' || typeof asset !== 'string' || !module) continue;
      functions.push({ module, entry: join(outdir, asset, 'index.mjs') });
    }
  }
  return functions;
}

/** Milliseconds to import (evaluate) a bundle in a fresh process: Lambda's module-init phase. */
function coldInitMs(entry: string, runs: number): number {
  const samples: number[] = [];
  const script = `const t = performance.now(); await import(${JSON.stringify(entry)}); process.stdout.write(String(performance.now() - t));`;
  for (let run = 0; run < runs; run += 1) {
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      env: { ...process.env, POWERTOOLS_LOG_LEVEL: 'SILENT' },
    });
    if (child.status !== 0) throw new Error(`importing ${entry} failed: ${child.stderr}`);
    samples.push(Number(child.stdout));
  }
  return percentile(
    samples.sort((a, b) => a - b),
    50,
  );
}

/** Per handler: bundle size (minified, as CDK builds it) and cold module-init time; then the maxima. */
export async function benchBundles(runs: number): Promise<void> {
  const outdir = join(projectRoot, '.bench', 'cdk.out');
  await rm(outdir, { recursive: true, force: true });
  const functions = synthesize(outdir);
  if (functions.length === 0) throw new Error('no bundled functions found in the synthesized app');
  let maxKb = 0;
  let maxInit = 0;
  for (const { module, entry } of functions) {
    const kb = round(statSync(entry).size / 1024, 1);
    const init = round(coldInitMs(entry, runs), 1);
    report({ metric: `bundle_kb_${module}`, value: kb, unit: 'KB' });
    report({ metric: `cold_init_ms_${module}`, value: init, unit: 'ms' });
    maxKb = Math.max(maxKb, kb);
    maxInit = Math.max(maxInit, init);
  }
  report({ metric: 'bundle_kb_max', value: maxKb, unit: 'KB' });
  report({ metric: 'cold_init_ms_max', value: maxInit, unit: 'ms' });
}
