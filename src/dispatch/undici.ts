/**
 * The one entry to npm undici. Load order matters: importing `node:http` makes Node's bundled undici
 * install its default global dispatcher. If npm undici loaded first, it would install an undici 8 Agent
 * in that slot (its `global.js` does so when the slot is empty), and the app's own global fetch, swapped
 * or not, would silently run on it: importing this package must change nothing.
 */
import 'node:http';

export type { Dispatcher } from 'undici';
export { Agent, Dispatcher1Wrapper, Pool, ProxyAgent } from 'undici';
