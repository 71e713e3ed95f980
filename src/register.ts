/**
 * The only module with side effects: `node --import resilient-fetch/register app.js` makes every
 * `fetch()` of the app go through the default resilientFetch instance, with no code change.
 */
import { resilientFetch } from './default.ts';
import { install } from './install.ts';

install(resilientFetch);
