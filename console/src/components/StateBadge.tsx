import { Badge, type BadgeProps } from '@mantine/core';
import type { ReactNode } from 'react';

/**
 * A state in a light badge with dark text: Mantine's light variants put shade-8 text on a tint
 * (3.8:1), under the 4.5:1 axe asks for at badge sizes. Extra props (data-testid, data-status) pass through.
 */
export function StateBadge({ children, ...props }: BadgeProps & { children: ReactNode } & Record<`data-${string}`, string>) {
  return <Badge variant="light" {...props} styles={{ label: { color: 'var(--mantine-color-dark-9)' } }}>{children}</Badge>;
}
