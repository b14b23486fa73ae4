import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { withEndpointTables } from '../../scripts/endpoint-table.ts';

describe('README', () => {
  it('has endpoint tables matching the route table (run `npm run docs` after changing routes)', async () => {
    const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
    assert.equal(readme, withEndpointTables(readme));
  });

  it('names the run and test commands that .ci/run and package.json use', async () => {
    const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
    const ci = await readFile(new URL('../../.ci/run', import.meta.url), 'utf8');
    assert.match(readme, /^npm start$/m);
    assert.match(readme, /^npm test$/m);
    assert.match(ci, /^npm test$/m);
  });
});
