/** Passengers as a list of rows (type, first and last name); the desk and the booking page's change share it. */
import { ActionIcon, Button, Group, Select, Stack, TextInput } from '@mantine/core';
import { useT } from '../i18n';
import { deskMessages } from '../screens/desk-messages';

export const PAX_TYPES = ['adult', 'child', 'infant'] as const;
export type PaxType = (typeof PAX_TYPES)[number];
export interface PassengerDraft { type: PaxType; firstName: string; lastName: string }

export const emptyPassenger = (): PassengerDraft => ({ type: 'adult', firstName: '', lastName: '' });

export function PassengersEditor({ value, onChange, types = PAX_TYPES }: { value: PassengerDraft[]; onChange: (v: PassengerDraft[]) => void; types?: readonly PaxType[] }) {
  const t = useT(deskMessages);
  const set = (i: number, patch: Partial<PassengerDraft>) => onChange(value.map((p, j) => (j === i ? { ...p, ...patch } : p)));
  return (
    <Stack gap="xs">
      {value.map((p, i) => (
        <Group key={i} align="end" wrap="wrap" role="group" aria-label={t('passengerN', { n: i + 1 })}>
          <Select
            label={`${t('paxType')} (${i + 1})`} value={p.type} allowDeselect={false} w={160}
            data={types.map((ty) => ({ value: ty, label: t(ty) }))} onChange={(v) => v && set(i, { type: v as PaxType })}
          />
          <TextInput label={`${t('firstName')} (${i + 1})`} required value={p.firstName} onChange={(e) => set(i, { firstName: e.currentTarget.value })} maxLength={80} />
          <TextInput label={`${t('lastName')} (${i + 1})`} required value={p.lastName} onChange={(e) => set(i, { lastName: e.currentTarget.value })} maxLength={80} />
          {value.length > 1 && (
            <ActionIcon variant="default" size="lg" aria-label={t('removePassenger', { n: i + 1 })} onClick={() => onChange(value.filter((_, j) => j !== i))}>×</ActionIcon>
          )}
        </Group>
      ))}
      <Group><Button variant="default" onClick={() => onChange([...value, emptyPassenger()])}>{t('addPassenger')}</Button></Group>
    </Stack>
  );
}
