import { Badge } from '@mantine/core';
import { useT } from '../i18n';
import { bookingsMessages, statusKey, STATUS_COLOR } from '../screens/bookings-messages';

/** A booking's status in words of the user's language; data-status carries the API's value for tests. */
export function StatusBadge({ status, testId }: { status: string; testId?: string }) {
  const t = useT(bookingsMessages);
  return (
    <Badge variant="light" color={STATUS_COLOR[status] ?? 'gray'} data-testid={testId} data-status={status} styles={{ label: { color: 'var(--mantine-color-dark-9)' } }}>
      {t(statusKey(status))}
    </Badge>
  );
}
