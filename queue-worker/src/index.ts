export { QueueWorker, MAX_STALLED_COUNT } from './queue-worker.js';
export { Persister, InvalidJobError } from './persister.js';
export { HttpPoster, TimeoutError } from './http-post.js';
