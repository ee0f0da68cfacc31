/**
 * The console's frame: sign-in gate, navigation by role, language switch, live-updates status,
 * and the screen for the current address (each loaded on demand).
 */
import { Suspense, useEffect, useState } from 'react';
import { Alert, AppShell, Burger, Button, Center, Group, Loader, NavLink, ScrollArea, Stack, Text, Title, Tooltip } from '@mantine/core';
import { useDisclosure } from '@mantine/hooks';
import { useQueryClient } from '@tanstack/react-query';
import { Link, Redirect, Route, Router, Switch, useLocation } from 'wouter';
import { useAuth, type Role } from './auth';
import { useT } from './i18n';
import { shellMessages } from './shell-messages';
import { SCREENS, homeOf, preloadScreenAt, preloadScreensWhenIdle } from './screens';
import { LanguageSwitch } from './components/LanguageSwitch';
import { logout } from './api/session';
import { connectLive, type LiveStatus } from './api/live';
import Login from './screens/Login';

const ROLE_KEY: Record<Role, 'roleAdmin' | 'roleOperator' | 'roleMarketer' | 'roleAccountant' | 'rolePartner' | 'roleCustomer'> = {
  admin: 'roleAdmin', operator: 'roleOperator', marketer: 'roleMarketer', accountant: 'roleAccountant', partner: 'rolePartner', customer: 'roleCustomer',
};

function LiveBadge({ status }: { status: LiveStatus }) {
  const t = useT(shellMessages);
  const label = status === 'open' ? t('live') : status === 'connecting' ? t('liveConnecting') : t('liveClosed');
  // Shade 9 (gray 7): the lighter shades are under 4.5:1 on white for 12px text (axe).
  const color = status === 'open' ? 'var(--mantine-color-teal-9)' : status === 'connecting' ? 'var(--mantine-color-gray-7)' : 'var(--mantine-color-red-9)';
  return (
    <Tooltip label={label}>
      <Text size="xs" c={color} data-testid="live-status" data-status={status} aria-live="polite">● {label}</Text>
    </Tooltip>
  );
}

/** The navigation entry for where we are: the longest listed path the location starts with (so /bookings/new is the desk, not Bookings). */
function isActive(path: string, location: string, paths: string[]): boolean {
  const covers = (p: string) => (p === '/' ? location === '/' : location === p || location.startsWith(`${p}/`));
  if (!covers(path)) return false;
  return !paths.some((other) => other !== path && other.length > path.length && covers(other));
}

function Shell() {
  const { user } = useAuth();
  const t = useT(shellMessages);
  const [opened, { toggle }] = useDisclosure();
  const [location] = useLocation();
  const queryClient = useQueryClient();
  const [live, setLive] = useState<LiveStatus>('connecting');

  useEffect(() => connectLive(queryClient, setLive), [queryClient, user?.id]);
  useEffect(() => { if (user) preloadScreensWhenIdle(user.role); }, [user?.role]);

  if (!user) return null;
  const mine = SCREENS.filter((s) => s.roles.includes(user.role));
  const groups = (['operations', 'marketing', 'customer'] as const).map((g) => ({ g, items: mine.filter((s) => s.group === g && s.nav) })).filter((x) => x.items.length);

  return (
    <AppShell header={{ height: 56 }} navbar={{ width: 230, breakpoint: 'sm', collapsed: { mobile: !opened } }} padding="md">
      <AppShell.Header>
        <Group h="100%" px="md" justify="space-between" wrap="nowrap">
          <Group wrap="nowrap">
            <Burger opened={opened} onClick={toggle} hiddenFrom="sm" size="sm" aria-label={t('toggleNav')} />
            <Text fw={700}>{t('appName')}</Text>
          </Group>
          <Group wrap="nowrap" gap="md">
            <LiveBadge status={live} />
            <LanguageSwitch />
            <Text size="sm" visibleFrom="md">{t('signedInAs', { email: user.email, role: t(ROLE_KEY[user.role]) })}</Text>
            <Button variant="default" size="xs" onClick={() => { queryClient.clear(); void logout(); }}>{t('signOut')}</Button>
          </Group>
        </Group>
      </AppShell.Header>
      <AppShell.Navbar p="xs" aria-label={t('navigation')} component="nav">
        <ScrollArea>
          {groups.map(({ g, items }) => (
            <Stack key={g} gap={0} mb="sm">
              <Text size="xs" fw={700} c="dimmed" tt="uppercase" px="sm" py={4}>{t(g)}</Text>
              {items.map((s) => (
                <NavLink
                  key={s.path}
                  component={Link}
                  href={s.path}
                  label={t(s.nav as keyof typeof shellMessages.en)}
                  active={isActive(s.path, location, mine.map((x) => x.path))}
                  // The light variant's teal text on its hover background is 3.8:1; filled is 5:1.
                  variant="filled"
                />
              ))}
            </Stack>
          ))}
        </ScrollArea>
      </AppShell.Navbar>
      <AppShell.Main id="main">
        <Suspense fallback={<Center p="xl"><Loader aria-label={t('loading')} /></Center>}>
          <Switch>
            {SCREENS.map((s) => (
              <Route key={s.path} path={s.path}>
                {(params) => s.roles.includes(user.role)
                  ? <s.component params={params as Record<string, string>} />
                  : s.path === '/' ? <Redirect to={homeOf(user.role)} /> : <Alert color="red" role="alert">{t('notAllowed')}</Alert>}
              </Route>
            ))}
            <Route><Title order={1}>{t('notFound')}</Title></Route>
          </Switch>
        </Suspense>
      </AppShell.Main>
    </AppShell>
  );
}

// The screen this page load opens starts loading now, beside the session refresh.
preloadScreenAt(window.location.pathname.replace(/^\/console/, '') || '/');

export function App() {
  const { user, ready } = useAuth();
  const t = useT(shellMessages);
  const queryClient = useQueryClient();
  // Signed out (here or in another tab): nothing of the last user stays in memory.
  useEffect(() => { if (ready && !user) queryClient.clear(); }, [ready, user, queryClient]);
  if (!ready) return <Center mih="100vh"><Loader aria-label={t('loading')} /></Center>;
  return (
    <Router base="/console">
      {user ? <Shell /> : <Login />}
    </Router>
  );
}
