/**
 * Dispatchers that are our own pools of Node's bundled undici (or wrap one): the fast transport
 * (src/transport/fast/) dispatches to these itself, because their core calls the handler interface it
 * implements; a request with any other dispatcher goes through Node's fetch.
 */
const own = new WeakSet<object>();

export const markOwnDispatcher = (dispatcher: object): void => void own.add(dispatcher);

export const isOwnDispatcher = (dispatcher: unknown): boolean =>
  typeof dispatcher === 'object' && dispatcher !== null && own.has(dispatcher);
