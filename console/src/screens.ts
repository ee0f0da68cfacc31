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
  /** Fetches the screen's code ahead of its first render. */
  preload: () => Promise<unknown>;
}

type ScreenModule = { default: ComponentType<{ params: Record<string, string> }> };

/**
 * React.lazy with a preload(): once the code is in, the screen renders in the same pass instead
 * of suspending (a fallback, then React's 300 ms throttle before revealing the content).
 */
function preloadable(load: () => Promise<ScreenModule>) {
  let loaded: ScreenModule | undefined;
  let loading: Promise<ScreenModule> | undefined;
  const preload = () => (loading ??= load().then((m) => (loaded = m)));
  // A thenable that answers synchronously: React.lazy then resolves without suspending.
  const now = (m: ScreenModule) => ({ then: (resolve: (value: ScreenModule) => void) => resolve(m) }) as unknown as Promise<ScreenModule>;
  return { component: lazy(() => (loaded ? now(loaded) : preload())), preload };
}

/** Opened from Today and the calendar, which preload it when a departure is chosen. */
export const manifestScreen = preloadable(() => import('./screens/Manifest'));

const OPS: Role[] = ['admin', 'operator', 'accountant'];
const STEER: Role[] = ['admin', 'operator'];
const MARKETING: Role[] = ['admin', 'marketer'];

const screen = (def: Omit<ScreenDef, 'component' | 'preload'>, load: () => Promise<ScreenModule>): ScreenDef => ({ ...def, ...preloadable(load) });

export const SCREENS: ScreenDef[] = [
  screen({ path: '/', nav: 'today', group: 'operations', roles: OPS }, () => import('./screens/Today')),
  screen({ path: '/calendar', nav: 'calendar', group: 'operations', roles: OPS }, () => import('./screens/Calendar')),
  { path: '/departures/:id/manifest', roles: OPS, ...manifestScreen },
  screen({ path: '/bookings', nav: 'bookings', group: 'operations', roles: OPS }, () => import('./screens/Bookings')),
  screen({ path: '/bookings/new', nav: 'desk', group: 'operations', roles: STEER }, () => import('./screens/Desk')),
  screen({ path: '/bookings/:id', roles: [...OPS, 'partner', 'customer'] }, () => import('./screens/Booking')),
  screen({ path: '/approvals', nav: 'approvals', group: 'operations', roles: OPS }, () => import('./screens/Approvals')),
  screen({ path: '/agents', nav: 'agents', group: 'operations', roles: STEER }, () => import('./screens/Agents')),
  screen({ path: '/agents/runs/:id', roles: STEER }, () => import('./screens/AgentRun')),
  screen({ path: '/conversations', nav: 'conversations', group: 'operations', roles: STEER }, () => import('./screens/Conversations')),
  screen({ path: '/contacts', nav: 'contacts', group: 'marketing', roles: MARKETING }, () => import('./screens/Contacts')),
  screen({ path: '/segments', nav: 'segments', group: 'marketing', roles: MARKETING }, () => import('./screens/Segments')),
  screen({ path: '/templates', nav: 'templates', group: 'marketing', roles: MARKETING }, () => import('./screens/Templates')),
  screen({ path: '/campaigns', nav: 'campaigns', group: 'marketing', roles: MARKETING }, () => import('./screens/Campaigns')),
  screen({ path: '/campaigns/:id', roles: MARKETING }, () => import('./screens/Campaign')),
  screen({ path: '/automations', nav: 'automations', group: 'marketing', roles: MARKETING }, () => import('./screens/Automations')),
  screen({ path: '/trips', nav: 'trips', group: 'customer', roles: ['partner', 'customer'] }, () => import('./screens/MyTrips')),
];

function matches(pattern: string, location: string): boolean {
  const a = pattern.split('/');
  const b = location.split('/');
  return a.length === b.length && a.every((part, i) => part.startsWith(':') ? b[i] !== '' : part === b[i]);
}

/**
 * The screen a page load opens (a bookmark, a reload) starts loading at once, beside the session
 * refresh, so it renders without a fallback. A literal path wins over a pattern (/bookings/new).
 */
export function preloadScreenAt(location: string): void {
  const exact = SCREENS.find((s) => s.path === location);
  void (exact ?? SCREENS.find((s) => matches(s.path, location)))?.preload().catch(() => undefined);
}

/** After the first screen, when the browser is idle: the rest of this role's screens, so none of them waits for its code. */
export function preloadScreensWhenIdle(role: Role): void {
  const run = () => { for (const s of SCREENS) if (s.roles.includes(role)) void s.preload().catch(() => undefined); };
  const idle = (window as Window & { requestIdleCallback?: (fn: () => void, o?: { timeout: number }) => void }).requestIdleCallback;
  if (idle) idle(run, { timeout: 5000 });
  else setTimeout(run, 2000);
}

/** Where a role lands after signing in. */
export function homeOf(role: Role): string {
  if (role === 'marketer') return '/campaigns';
  if (role === 'partner' || role === 'customer') return '/trips';
  return '/';
}
