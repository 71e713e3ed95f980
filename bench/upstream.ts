/** Starts bench/server.ts in a child process (same node binary) and talks to it over IPC. */
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import type { ParentMessage, ServerMessage } from './server.ts';

export interface Upstream {
  /** `http://127.0.0.1:PORT` */
  readonly origin: string;
  /** The server process's CPU time so far (user + system), in microseconds. */
  cpuUs(): Promise<number>;
  /** Stops the server and waits for its process to exit. */
  stop(): Promise<void>;
}

const serverPath = new URL('./server.ts', import.meta.url);
const startTimeoutMs = 10_000;

function nextMessage<T extends ServerMessage['type']>(
  child: ChildProcess,
  type: T,
): Promise<Extract<ServerMessage, { type: T }>> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: ServerMessage) => {
      if (message.type !== type) return;
      cleanup();
      resolve(message as Extract<ServerMessage, { type: T }>);
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`bench server exited (code ${code}) while we waited for '${type}'`));
    };
    const cleanup = () => {
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

export async function startUpstream(): Promise<Upstream> {
  // execArgv: [] so the server does not inherit the bench's --expose-gc or any inspector flag.
  const child = fork(serverPath, [], { execPath: process.execPath, execArgv: [], stdio: 'inherit' });
  const timer = setTimeout(() => child.kill(), startTimeoutMs);
  const { port } = await nextMessage(child, 'ready').finally(() => clearTimeout(timer));
  const send = (message: ParentMessage) => child.send(message);

  return {
    origin: `http://127.0.0.1:${port}`,
    async cpuUs() {
      const reply = nextMessage(child, 'cpu');
      send({ type: 'cpu' });
      const { usage } = await reply;
      return usage.user + usage.system;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      if (child.connected) send({ type: 'stop' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 2_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
