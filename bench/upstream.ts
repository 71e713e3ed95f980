/** Starts bench/server.ts in a child process (same node binary) and talks to it over IPC. */
import { forkChild } from './child.ts';
import type { ParentMessage, ServerMessage } from './server.ts';

export interface Upstream {
  /** `http://127.0.0.1:PORT` */
  readonly origin: string;
  /** The server process's CPU time so far (user + system), in microseconds. */
  cpuUs(): Promise<number>;
  /** Stops the server and waits for its process to exit. */
  stop(): Promise<void>;
}

export async function startUpstream(): Promise<Upstream> {
  const child = await forkChild<ParentMessage, ServerMessage>(new URL('./server.ts', import.meta.url), {
    name: 'bench server',
    ready: 'ready',
    readyTimeoutMs: 10_000,
  });
  const { port } = child.ready as Extract<ServerMessage, { type: 'ready' }>;
  return {
    origin: `http://127.0.0.1:${port}`,
    async cpuUs() {
      const { usage } = await child.request({ type: 'cpu' }, 'cpu');
      return usage.user + usage.system;
    },
    stop: () => child.stop({ type: 'stop' }),
  };
}
