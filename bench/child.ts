/**
 * A forked child process (the same node binary) spoken to over IPC, one request at a time: the upstream,
 * the OTLP receiver and the client workers of the benchmark all use it.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';

/** Every message a child sends has a `type`; `{ type: 'error', message }` rejects the pending request. */
export interface Message {
  readonly type: string;
}
export interface ErrorMessage {
  readonly type: 'error';
  readonly message: string;
}

export interface Child<In extends Message, Out extends Message> {
  readonly process: ChildProcess;
  /** The message the child sent when it was ready. */
  readonly ready: Out;
  /** Sends `message` and resolves with the child's next message of type `reply`. */
  request<T extends Out['type']>(
    message: In,
    reply: T,
    timeoutMs?: number,
  ): Promise<Extract<Out, { type: T }>>;
  /** Sends `message` (or just disconnects) and waits for the child to exit, killing it after 5 s. */
  stop(message?: In): Promise<void>;
}

export interface ForkOptions {
  readonly args?: readonly string[];
  /** Node flags of the child; none by default (not the parent's: no inspector, no --expose-gc). */
  readonly execArgv?: readonly string[];
  /** The type of the message the child sends when it is ready, and how long it may take. */
  readonly ready: string;
  readonly readyTimeoutMs?: number;
  /** A name for error messages. */
  readonly name: string;
}

function nextMessage<Out extends Message, T extends Out['type']>(
  child: ChildProcess,
  type: T,
  name: string,
  timeoutMs: number,
): Promise<Extract<Out, { type: T }>> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: Out | ErrorMessage) => {
      if (message.type === 'error') {
        cleanup();
        reject(new Error(`${name}: ${(message as ErrorMessage).message}`));
      } else if (message.type === type) {
        cleanup();
        resolve(message as Extract<Out, { type: T }>);
      }
    };
    const onExit = (code: number | null, signal: string | null) => {
      cleanup();
      reject(new Error(`${name} exited (code ${code}, signal ${signal}) while we waited for '${type}'`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`${name}: no '${type}' within ${timeoutMs} ms`));
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

export async function forkChild<In extends Message, Out extends Message>(
  path: URL,
  options: ForkOptions,
): Promise<Child<In, Out>> {
  const child = fork(path, [...(options.args ?? [])], {
    execPath: process.execPath,
    execArgv: [...(options.execArgv ?? [])],
    stdio: 'inherit',
  });
  const { name } = options;
  let ready: Out;
  try {
    ready = await nextMessage<Out, Out['type']>(child, options.ready, name, options.readyTimeoutMs ?? 30_000);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return {
    process: child,
    ready,
    request(message, reply, timeoutMs = 60_000) {
      const answer = nextMessage<Out, typeof reply>(child, reply, name, timeoutMs);
      child.send(message);
      return answer;
    },
    async stop(message) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      if (message && child.connected) child.send(message);
      else if (child.connected) child.disconnect();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
