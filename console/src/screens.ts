/**
 * Every screen of the console: where it lives, who may open it, and its navigation label.
 * Screens are loaded on demand (React.lazy), so the first screen's JavaScript stays small.
 */
import { lazy, type ComponentType, type LazyExoticComponent } from 'react';
import type { Role } from './auth';

export interface ScreenDef {
  path: string;
  /** The navigation label's key in shellMessages; no label: not in the navigation (a detail page). */
  nav?: string;
  group?: 'operations' | 'marketing' | 'customer';
  roles: readonly Role[];
  component: LazyExoticComponent<ComponentType<{ params: Record<string, string> }>>;
}

type ScreenModule = { default: ComponentType<{ params: Record<string, string> }> };

/**
 * React.lazy with a preload(): once the code is in, the screen renders in the same pass instead
 * of suspending (a fallback, then React's 300 ms throttle before revealing the content).
 */
function preloadable(load: () => Promise<ScreenModule>) {
  let loaded: ScreenModule | undefined;
  const preload = () => load().then((m) => (loaded = m));
  // A thenable that answers synchronously: React.lazy then resolves without suspending.
  const now = (m: ScreenModule) => ({ then: (resolve: (value: ScreenModule) => void) => resolve(m) }) as unknown as Promise<ScreenModule>;
  return { component: lazy(() => (loaded ? now(loaded) : preload())), preload };
}

/** Opened from Today and the calendar, which preload it when a departure is chosen. */
export const manifestScreen = preloadable(() => import('./screens/Manifest'));

const OPS: Role[] = ['admin', 'operator', 'accountant'];
const STEER: Role[] = ['admin', 'operator'];
const MARKETING: Role[] = ['admin', 'marketer'];

export const SCREENS: ScreenDef[] = [
  { path: '/', nav: 'today', group: 'operations', roles: OPS, component: lazy(() => import('./screens/Today')) },
  { path: '/calendar', nav: 'calendar', group: 'operations', roles: OPS, component: lazy(() => import('./screens/Calendar')) },
  { path: '/departures/:id/manifest', roles: OPS, component: manifestScreen.component },
  { path: '/bookings', nav: 'bookings', group: 'operations', roles: OPS, component: lazy(() => import('./screens/Bookings')) },
  { path: '/bookings/new', nav: 'desk', group: 'operations', roles: STEER, component: lazy(() => import('./screens/Desk')) },
  { path: '/bookings/:id', roles: [...OPS, 'partner', 'customer'], component: lazy(() => import('./screens/Booking')) },
  { path: '/approvals', nav: 'approvals', group: 'operations', roles: OPS, component: lazy(() => import('./screens/Approvals')) },
  { path: '/agents', nav: 'agents', group: 'operations', roles: STEER, component: lazy(() => import('./screens/Agents')) },
  { path: '/agents/runs/:id', roles: STEER, component: lazy(() => import('./screens/AgentRun')) },
  { path: '/conversations', nav: 'conversations', group: 'operations', roles: STEER, component: lazy(() => import('./screens/Conversations')) },
  { path: '/contacts', nav: 'contacts', group: 'marketing', roles: MARKETING, component: lazy(() => import('./screens/Contacts')) },
  { path: '/segments', nav: 'segments', group: 'marketing', roles: MARKETING, component: lazy(() => import('./screens/Segments')) },
  { path: '/templates', nav: 'templates', group: 'marketing', roles: MARKETING, component: lazy(() => import('./screens/Templates')) },
  { path: '/campaigns', nav: 'campaigns', group: 'marketing', roles: MARKETING, component: lazy(() => import('./screens/Campaigns')) },
  { path: '/campaigns/:id', roles: MARKETING, component: lazy(() => import('./screens/Campaign')) },
  { path: '/automations', nav: 'automations', group: 'marketing', roles: MARKETING, component: lazy(() => import('./screens/Automations')) },
  { path: '/trips', nav: 'trips', group: 'customer', roles: ['partner', 'customer'], component: lazy(() => import('./screens/MyTrips')) },
];

/** Where a role lands after signing in. */
export function homeOf(role: Role): string {
  if (role === 'marketer') return '/campaigns';
  if (role === 'partner' || role === 'customer') return '/trips';
  return '/';
}
