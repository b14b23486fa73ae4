import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

const projectRoot = join(import.meta.dirname, '..', '..');

/** cfn-lint from scripts/setup.sh's venv, else from PATH. */
const cfnLint = existsSync(join(projectRoot, '.tools/python/bin/cfn-lint'))
  ? join(projectRoot, '.tools/python/bin/cfn-lint')
  : 'cfn-lint';

describe('cdk synth (offline, real bundling) and cfn-lint', () => {
  let outdir = '';
  after(() => (outdir ? rm(outdir, { recursive: true, force: true }) : undefined));

  it('synthesizes every stack without credentials, with cdk-nag passing, and cfn-lint accepts the templates', async () => {
    outdir = await mkdtemp(join(tmpdir(), 'sluice-synth-'));
    const env: NodeJS.ProcessEnv = { ...process.env, CDK_DISABLE_VERSION_CHECK: '1' };
    for (const name of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE']) {
      delete env[name];
    }
    const synth = spawnSync(
      join(projectRoot, 'node_modules/.bin/cdk'),
      ['synth', '--quiet', '--no-notices', '--output', outdir],
      { cwd: projectRoot, env, encoding: 'utf8' },
    );
    assert.equal(synth.status, 0, `cdk synth failed:\n${synth.stdout}\n${synth.stderr}`);

    const templates = readdirSync(outdir)
      .filter((file) => file.endsWith('.template.json'))
      .map((file) => join(outdir, file));
    assert.ok(templates.length >= 3, `templates: ${templates}`);
    const bundles = readdirSync(outdir).filter(
      (entry) => entry.startsWith('asset.') && existsSync(join(outdir, entry, 'index.mjs')),
    );
    assert.ok(bundles.length > 0, 'functions were bundled');
    for (const bundle of bundles) assert.ok(statSync(join(outdir, bundle, 'index.mjs')).size > 1000, bundle);

    // W3005 ("dependency already enforced by a GetAtt"): aws-lambda's Function adds DependsOn on
    // its role so the role's policy exists before the function; redundant, harmless, and CDK's own.
    const lint = spawnSync(cfnLint, ['--ignore-checks', 'W3005', '--', ...templates], { encoding: 'utf8' });
    assert.equal(lint.error, undefined, `cfn-lint could not run (npm test installs it): ${lint.error}`);
    assert.equal(lint.status, 0, `cfn-lint findings:\n${lint.stdout}\n${lint.stderr}`);
  });
});
