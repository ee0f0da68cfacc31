/**
 * Revenue per day and branch as stacked bars, one chart per currency (amounts in different
 * currencies do not add up). Its own module, loaded with React.lazy by Today, so @mantine/charts
 * and recharts stay out of the first screen's JavaScript.
 */
import { useMemo } from 'react';
import { BarChart } from '@mantine/charts';
import { Stack, Text } from '@mantine/core';
import '@mantine/charts/styles.css';
import { formatMoney, type Lang } from '../i18n';
import type { TodayBoard } from './operations-shared';

const COLORS = ['teal.8', 'blue.7', 'orange.8', 'violet.7', 'red.8', 'cyan.8', 'grape.7', 'lime.9'];

/** The 30 days up to `until` (YYYY-MM-DD), so quiet days show as gaps and not as a shorter axis. */
function lastDays(until: string, n = 30): string[] {
  const end = Date.parse(`${until}T12:00:00Z`);
  return Array.from({ length: n }, (_, i) => new Date(end - (n - 1 - i) * 86_400_000).toISOString().slice(0, 10));
}

export default function RevenueChart({ revenue, label, lang, until }: { revenue: TodayBoard['revenue']; label: string; lang: Lang; until: string }) {
  const charts = useMemo(() => {
    const days = lastDays(revenue.reduce((max, r) => (r.day > max ? r.day : max), until));
    const byCurrency = new Map<string, { days: Map<string, Record<string, number | string>>; branches: Set<string> }>();
    for (const r of revenue) {
      const c = byCurrency.get(r.currency) ?? { days: new Map(), branches: new Set<string>() };
      const day = c.days.get(r.day) ?? { day: r.day.slice(5) };
      day[r.branch] = ((day[r.branch] as number | undefined) ?? 0) + r.net;
      c.days.set(r.day, day);
      c.branches.add(r.branch);
      byCurrency.set(r.currency, c);
    }
    return [...byCurrency.entries()].map(([currency, c]) => ({
      currency,
      data: days.map((day) => c.days.get(day) ?? { day: day.slice(5) }),
      series: [...c.branches].sort().map((name, i) => ({ name, color: COLORS[i % COLORS.length] })),
    }));
  }, [revenue, until]);

  return (
    <Stack data-testid="revenue-chart">
      {charts.map((c) => (
        <figure key={c.currency} style={{ margin: 0 }} role="img" aria-label={`${label} (${c.currency})`}>
          <Text size="sm" fw={700} aria-hidden>{c.currency}</Text>
          <BarChart
            h={240}
            data={c.data}
            dataKey="day"
            type="stacked"
            series={c.series}
            withLegend
            valueFormatter={(v) => formatMoney(v, c.currency, lang)}
            tickLine="y"
          />
        </figure>
      ))}
    </Stack>
  );
}
