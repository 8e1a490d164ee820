import type { IKoffiLib } from 'koffi';
import type { Koffi } from './koffi.js';
import { systemLibrary } from './systemLibrary.js';

/** What a child's fd `i` is: a copy of one of our fds, or /dev/null. */
export type ChildFd = { dup: number } | 'null';

/** How a reaped child ended. */
export interface ChildStatus {
  code: number | null;
  /** Signal number that ended it. */
  signal: number | null;
}

/**
 * The C library's posix_spawn(3) and what goes with it, through koffi. glibc spawns with clone(CLONE_VM|CLONE_VFORK):
 * the parent waits ~1 ms, until the child has exec'd. node's spawn (libuv) fork()s, copying the page tables of a
 * process of several hundred MB, and then waits until the child has run up to its exec: 20-45 ms on an idle machine,
 * 40-130 ms on a loaded one, during which the server forwards nothing and answers no handshake. Linux only;
 * `undefined` elsewhere or with `RTC_RECORD_SPAWN=node`.
 */
export interface PosixSpawn {
  /** Starts `file` (searched in PATH) with `argv` and `env` (NAME=value), fd i of the child as `fds[i]`; its pid. Throws an errno error. */
  spawn(file: string, argv: readonly string[], env: readonly string[], fds: readonly ChildFd[]): number;
  /** A pipe, both ends close-on-exec: [read end, write end]. */
  pipe(): [number, number];
  close(fd: number): void;
  /** The child's end if it has ended (reaped now), undefined while it runs. */
  reap(pid: number): ChildStatus | undefined;
}

const posix = systemLibrary({
  names: ['libc.so.6'],
  disabled: () => {
    if (process.platform !== 'linux') return `not Linux (${process.platform})`;
    return process.env.RTC_RECORD_SPAWN === 'node' ? 'disabled (RTC_RECORD_SPAWN=node)' : undefined;
  },
  bind,
});

/** posix_spawn through libc, or undefined when it cannot be used (see posixSpawnError). */
export function posixSpawn(): PosixSpawn | undefined {
  return posix.get();
}

export function posixSpawnError(): string | undefined {
  return posix.error();
}

// glibc x86_64/aarch64 sizes are 80 (file actions), 336 (attributes) and 128 (sigset_t) bytes: room to spare.
const FILE_ACTIONS_BYTES = 256;
const ATTR_BYTES = 1024;
const SIGSET_BYTES = 256;
const POSIX_SPAWN_SETSIGDEF = 0x04;
const POSIX_SPAWN_SETSIGMASK = 0x08;
const O_RDWR = 2;
const O_CLOEXEC = 0o2000000;
const WNOHANG = 1;
const ECHILD = 10;
const F_DUPFD_CLOEXEC = 1030;

function bind(lib: IKoffiLib, koffi: Koffi): PosixSpawn {
  const spawnp = lib.func('int posix_spawnp(_Out_ int *pid, const char *file, void *actions, void *attr, const char **argv, const char **envp)');
  const actionsInit = lib.func('int posix_spawn_file_actions_init(void *actions)');
  const actionsDestroy = lib.func('int posix_spawn_file_actions_destroy(void *actions)');
  const addDup2 = lib.func('int posix_spawn_file_actions_adddup2(void *actions, int fd, int newfd)');
  const addOpen = lib.func('int posix_spawn_file_actions_addopen(void *actions, int fd, const char *path, int oflag, unsigned int mode)');
  const attrInit = lib.func('int posix_spawnattr_init(void *attr)');
  const attrDestroy = lib.func('int posix_spawnattr_destroy(void *attr)');
  const attrSetFlags = lib.func('int posix_spawnattr_setflags(void *attr, short flags)');
  const attrSetSigDefault = lib.func('int posix_spawnattr_setsigdefault(void *attr, const void *sigset)');
  const attrSetSigMask = lib.func('int posix_spawnattr_setsigmask(void *attr, const void *sigset)');
  const sigFillSet = lib.func('int sigfillset(void *set)');
  const sigEmptySet = lib.func('int sigemptyset(void *set)');
  const pipe2 = lib.func('int pipe2(_Out_ int *fds, int flags)');
  const closeFd = lib.func('int close(int fd)');
  const fcntl = lib.func('int fcntl(int fd, int cmd, ...)');
  const waitpid = lib.func('int waitpid(int pid, _Out_ int *status, int options)');

  const fail = (what: string, errno: number): never => {
    const err = new Error(`${what}: errno ${errno}`) as NodeJS.ErrnoException;
    err.errno = errno;
    err.code = errnoCode(errno);
    throw err;
  };

  // The child starts with every signal at its default and none blocked, as libuv's children do: node ignores
  // SIGPIPE, and an ignored signal stays ignored across exec.
  const allSignals = Buffer.alloc(SIGSET_BYTES);
  const noSignals = Buffer.alloc(SIGSET_BYTES);
  sigFillSet(allSignals);
  sigEmptySet(noSignals);

  return {
    spawn(file, argv, env, fds) {
      const actions = Buffer.alloc(FILE_ACTIONS_BYTES);
      const attr = Buffer.alloc(ATTR_BYTES);
      // The child's fds are set in order: a source numbered like one of them could be replaced before it is copied
      // (fd 4 → child fd 5 after something went to child fd 4). Such sources are copied above that range first.
      const moved: number[] = [];
      const source = (fd: number) => {
        if (fd >= fds.length) return fd;
        const copy = fcntl(fd, F_DUPFD_CLOEXEC, 'int', fds.length) as number;
        if (copy < 0) fail('fcntl', koffi.errno());
        moved.push(copy);
        return copy;
      };
      actionsInit(actions);
      attrInit(attr);
      try {
        fds.forEach((fd, i) => {
          const r = fd === 'null' ? addOpen(actions, i, '/dev/null', O_RDWR, 0) : addDup2(actions, source(fd.dup), i);
          if (r !== 0) fail('posix_spawn_file_actions', r as number);
        });
        attrSetSigDefault(attr, allSignals);
        attrSetSigMask(attr, noSignals);
        attrSetFlags(attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
        const pid = [0];
        const r = spawnp(pid, file, actions, attr, [...argv, null], [...env, null]) as number;
        if (r !== 0) fail(`spawn ${file}`, r);
        return pid[0]!;
      } finally {
        actionsDestroy(actions);
        attrDestroy(attr);
        for (const fd of moved) closeFd(fd);
      }
    },
    pipe() {
      const fds = [0, 0];
      if (pipe2(fds, O_CLOEXEC) !== 0) fail('pipe2', koffi.errno());
      return [fds[0]!, fds[1]!];
    },
    close(fd) {
      closeFd(fd);
    },
    reap(pid) {
      const status = [0];
      const r = waitpid(pid, status, WNOHANG) as number;
      if (r === 0) return undefined;
      // Reaped by someone else (cannot happen for our pids unless SIGCHLD is ignored): gone, how unknown.
      if (r < 0) return koffi.errno() === ECHILD ? { code: null, signal: null } : undefined;
      const s = status[0]!;
      const termSignal = s & 0x7f;
      return termSignal === 0 ? { code: (s >> 8) & 0xff, signal: null } : { code: null, signal: termSignal };
    },
  };
}

function errnoCode(errno: number): string {
  return { 2: 'ENOENT', 13: 'EACCES', 12: 'ENOMEM', 11: 'EAGAIN', 24: 'EMFILE', 8: 'ENOEXEC' }[errno] ?? `E${errno}`;
}
