import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

const projectRoot = join(import.meta.dirname, '..', '..');

/** cfn-lint from scripts/setup.sh's venv, else from PATH. */
const cfnLintPath = existsSync(join(projectRoot, '.tools/python/bin/cfn-lint'))
  ? join(projectRoot, '.tools/python/bin/cfn-lint')
  : 'cfn-lint';

/** `cdk synth` without credentials; returns the templates written to `outdir`. */
function synth(outdir: string, extra: string[] = []): string[] {
  const env: NodeJS.ProcessEnv = { ...process.env, CDK_DISABLE_VERSION_CHECK: '1' };
  for (const name of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE']) {
    delete env[name];
  }
  const run = spawnSync(
    join(projectRoot, 'node_modules/.bin/cdk'),
    ['synth', '--quiet', '--no-notices', '--output', outdir, ...extra],
    { cwd: projectRoot, env, encoding: 'utf8' },
  );
  assert.equal(run.status, 0, `cdk synth failed:\n${run.stdout}\n${run.stderr}`);
  return readdirSync(outdir)
    .filter((file) => file.endsWith('.template.json'))
    .map((file) => join(outdir, file));
}

// W3005 ("dependency already enforced by a GetAtt"): aws-lambda's Function adds DependsOn on
// its role so the role's policy exists before the function; redundant, harmless, and CDK's own.
function cfnLint(templates: string[]): void {
  const lint = spawnSync(cfnLintPath, ['--ignore-checks', 'W3005', '--', ...templates], { encoding: 'utf8' });
  assert.equal(lint.error, undefined, `cfn-lint could not run (npm test installs it): ${lint.error}`);
  assert.equal(lint.status, 0, `cfn-lint findings:\n${lint.stdout}\n${lint.stderr}`);
}

describe('cdk synth (offline, real bundling) and cfn-lint', () => {
  const outdirs: string[] = [];
  after(() => Promise.all(outdirs.map((dir) => rm(dir, { recursive: true, force: true }))));

  it('synthesizes every stack without credentials, with cdk-nag passing, and cfn-lint accepts the templates', async () => {
    const outdir = await mkdtemp(join(tmpdir(), 'sluice-synth-'));
    outdirs.push(outdir);
    const templates = synth(outdir);
    assert.ok(templates.length >= 4, `templates: ${templates}`);
    const bundles = readdirSync(outdir).filter(
      (entry) => entry.startsWith('asset.') && existsSync(join(outdir, entry, 'index.mjs')),
    );
    assert.ok(bundles.length > 0, 'functions were bundled');
    for (const bundle of bundles) assert.ok(statSync(join(outdir, bundle, 'index.mjs')).size > 1000, bundle);
    cfnLint(templates);
  });

  it('synthesizes the engine stack with command tasks (VPC, ECS), with cdk-nag passing, and cfn-lint accepts it', async () => {
    const outdir = await mkdtemp(join(tmpdir(), 'sluice-synth-commands-'));
    outdirs.push(outdir);
    // --exclusively: only the engine stack (and only its two functions are bundled).
    const templates = synth(outdir, [
      '--exclusively',
      'Sluice-Engine',
      '-c',
      'sluice:enableCommandTasks=true',
    ]);
    const engine = templates.find((file) => file.endsWith('Sluice-Engine.template.json'));
    assert.ok(engine, `templates: ${templates}`);
    assert.match(readFileSync(engine, 'utf8'), /AWS::ECS::TaskDefinition/);
    cfnLint([engine]);
  });
});
