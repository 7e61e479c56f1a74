import { SIDECAR_NODE_FLAGS } from '../../sidecar/node-flags';
import { containerArgv, defaultImageTable, ImageNotFoundError, resolveImage } from './kubelet-images';

const table = defaultImageTable('/repo');

describe('resolveImage', () => {
  it.each([
    ['ghcr.io/datamount/sidecar:0.1.0', [process.execPath, ...SIDECAR_NODE_FLAGS, '/repo/dist/sidecar/main.js']],
    ['ghcr.io/datamount/sidecar@sha256:abc', [process.execPath, ...SIDECAR_NODE_FLAGS, '/repo/dist/sidecar/main.js']],
    ['ghcr.io/datamount/webhook:0.1.0', [process.execPath, '/repo/dist/webhook/main.js']],
    ['busybox', []],
    ['busybox:1.36', []],
    ['docker.io/library/alpine:3.20', []],
    ['ubuntu:24.04', []],
  ])('maps %s to a local entrypoint', (image, entrypoint) => {
    expect(resolveImage(image, table).entrypoint).toEqual(entrypoint);
  });

  it('refuses an image it has no stand-in for, as ErrImagePull', () => {
    expect(() => resolveImage('registry.example.com/app:1', table)).toThrow(ImageNotFoundError);
    expect(() => resolveImage('registry.example.com/app:1', table)).toThrow(/no local stand-in/);
  });
});

describe('containerArgv', () => {
  const standIn = { entrypoint: ['/entry'], cmd: ['--default'], workingDir: '/', env: {} };

  it.each([
    ['neither command nor args: ENTRYPOINT + CMD', undefined, undefined, ['/entry', '--default']],
    ['args only: ENTRYPOINT + args', undefined, ['run'], ['/entry', 'run']],
    ['command only: command, CMD dropped', ['/bin/sh'], undefined, ['/bin/sh']],
    ['command and args', ['/bin/sh', '-c'], ['echo hi'], ['/bin/sh', '-c', 'echo hi']],
  ])('%s', (_what, command, args, argv) => {
    expect(containerArgv(standIn, command, args)).toEqual(argv);
  });
});
