export { PushServer, PING_INTERVAL_MS } from './push-server.js';
export { ChannelHub, Subscription } from './channel-hub.js';
export { RoutingRegistry, ROUTE_LIFETIME_BEATS } from './routing.js';
export { TokenBucket } from './token-bucket.js';
export { WireFrame } from './wire-frame.js';
export { TrustedProxies } from './client-address.js';
export { RecentEvents, RECENT_EVENTS } from './recent-events.js';
