export { runLoad, type LoadOptions, type LoadSummary } from './load-run.js';
export { snapshot, rates, type StatsSnapshot } from './commands/stats.js';
