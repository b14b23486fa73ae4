import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { matches, readPath, writePath } from '../../lambdas/core/engine/json-path.ts';
import { MappingError, mapInput, mapOutput } from '../../lambdas/core/engine/mappings.ts';
import { renderCommand, shellQuote } from '../../lambdas/core/engine/runner.ts';

describe('JSONPath reads, writes and filters', () => {
  it('reads nested values and reports missing ones', () => {
    const document = { context: { a: { b: [10, 20] } } };
    assert.deepEqual(readPath(document, '$.context.a.b[1]'), { found: true, value: 20 });
    assert.deepEqual(readPath(document, '$.context.missing'), { found: false });
  });

  it('writes plain paths, creating objects and arrays, and refuses filters', () => {
    const document: Record<string, unknown> = {};
    writePath(document, '$.input.a.b', 1);
    writePath(document, "$.input['odd key'][1]", 'x');
    assert.equal(JSON.stringify(document), '{"input":{"a":{"b":1},"odd key":[null,"x"]}}');
    assert.throws(() => writePath(document, '$.input[?(@.a)]', 1), /only plain paths/);
    assert.throws(() => writePath(document, '$', 1), /whole document/);
  });

  it('tests Rill Flow style filter conditions against an object', () => {
    const document = { output: { result_type: 'SUCCESS', score: 61 } };
    assert.equal(matches("$.output[?(@.result_type == 'SUCCESS')]", document), true);
    assert.equal(matches('$.output[?(@.score > 60 && @.score < 70)]', document), true);
    assert.equal(matches('$.output[?(@.score > 90)]', document), false);
    assert.equal(matches('$.output[?(@.nothing == 1)]', document), false);
  });
});

describe('input and output mappings', () => {
  const context = { left: 512, right: 512, nested: { list: [1, 2, 3] } };

  it('builds the input from the context, constants and the foreach item', () => {
    const input = mapInput(
      context,
      [
        { source: '$.context.left', target: '$.input.left' },
        { value: 'constant', target: '$.input.label' },
        { source: '$.item.id', target: '$.input.id' },
      ],
      { item: { id: 'i-7' }, index: 0 },
    );
    assert.deepEqual(input, { left: 512, label: 'constant', id: 'i-7' });
  });

  it('passes the whole context when a task has no input mappings', () => {
    assert.deepEqual(mapInput(context, []), context);
    assert.notEqual(mapInput(context, []), context, 'a copy, never the stored object');
  });

  it('fails on a missing source unless the mapping is tolerant or has a default', () => {
    assert.throws(() => mapInput(context, [{ source: '$.context.nope', target: '$.input.x' }]), MappingError);
    assert.deepEqual(
      mapInput(context, [{ source: '$.context.nope', target: '$.input.x', tolerance: true }]),
      {},
    );
    assert.deepEqual(mapInput(context, [{ source: '$.context.nope', value: 3, target: '$.input.x' }]), {
      x: 3,
    });
  });

  it('writes outputs into the context without touching the original', () => {
    const next = mapOutput(context, { left: 1 }, { result_number: 1024 }, [
      { source: '$.output.result_number', target: '$.context.result_number' },
      { source: '$.input.left', target: '$.context.seen.left' },
    ]);
    assert.equal(next.result_number, 1024);
    assert.deepEqual(next.seen, { left: 1 });
    assert.equal('result_number' in context, false);
  });
});

describe('command rendering', () => {
  it('shell-quotes every substituted value so a parameter cannot inject shell syntax', () => {
    assert.equal(renderCommand('echo ${name}', { name: 'lili1' }), "echo 'lili1'");
    assert.equal(renderCommand('echo ${name}', { name: "x'; rm -rf / #" }), `echo 'x'\\''; rm -rf / #'`);
    assert.equal(renderCommand('echo ${missing}', {}), 'echo ${missing}');
    assert.equal(shellQuote({ a: 1 }), `'{"a":1}'`);
  });

  it('hands a hostile value to the command as one literal argument when a real shell runs it', () => {
    const hostile = `a'b"c $(touch /tmp/pwned) \`id\` ; | & > x`;
    const shell = spawnSync('/bin/sh', ['-c', renderCommand('printf %s ${value}', { value: hostile })], {
      encoding: 'utf8',
    });
    assert.equal(shell.status, 0);
    assert.equal(shell.stdout, hostile);
  });
});
