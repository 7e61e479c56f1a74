import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { SIDECAR_NODE_FLAGS } from '../../sidecar/node-flags';

describe('the sidecar’s V8 options', () => {
  const shim = readFileSync(path.resolve(__dirname, '../../bin/datamount-sidecar'), 'utf8');
  const hashBang = shim.split('\n')[0] ?? '';

  describe('when the image or a user starts the datamount-sidecar shim', () => {
    it('passes exactly SIDECAR_NODE_FLAGS to node on its #! line (env -S splits them)', () => {
      expect(hashBang).toBe(`#!/usr/bin/env -S node ${SIDECAR_NODE_FLAGS.join(' ')}`);
    });
  });

  describe('when node starts with them', () => {
    it('accepts every one (an unknown or misspelt option would stop node with "bad option")', () => {
      const run = spawnSync(process.execPath, [...SIDECAR_NODE_FLAGS, '-e', 'process.stdout.write("ok")'], { encoding: 'utf8' });
      expect(run.stderr).toBe('');
      expect(run.stdout).toBe('ok');
      expect(run.status).toBe(0);
    });
  });
});
