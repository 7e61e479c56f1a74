/** The part of fuse-native's (untyped) API the adapter uses. */
declare module 'fuse-native' {
  type Callback = (...args: unknown[]) => void;
  interface FuseOptions {
    force?: boolean;
    mkdir?: boolean;
    debug?: boolean;
    allowOther?: boolean;
    defaultPermissions?: boolean;
    maxRead?: number;
    fsname?: string;
    subtype?: string;
    uid?: number;
    gid?: number;
    attrTimeout?: number;
    entryTimeout?: number;
    autoUnmount?: boolean;
    timeout?: false | number;
  }
  class Fuse {
    constructor(mountPoint: string, ops: Record<string, Callback>, options?: FuseOptions);
    mount(cb: (error: Error | null) => void): void;
    unmount(cb: (error: Error | null) => void): void;
    static unmount(mountPoint: string, cb: (error: Error | null) => void): void;
  }
  export = Fuse;
}
