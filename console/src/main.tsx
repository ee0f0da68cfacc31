import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { MantineProvider, createTheme, type CSSVariablesResolver } from '@mantine/core';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import '@mantine/core/styles.css';
import { LangProvider } from './i18n';
import { AuthProvider } from './auth';
import { App } from './App';

const theme = createTheme({
  primaryColor: 'teal',
  // Contrast (WCAG AA, 4.5:1 for text): white on teal's shade 8 is 4.0:1, on 9 it is 5:1.
  primaryShade: 9,
  fontFamily: 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
});

// Mantine's "dimmed" text (gray 6) is 3.3:1 on white; gray 7 passes.
const cssVariablesResolver: CSSVariablesResolver = () => ({
  variables: {},
  // Hovered primary buttons and nav links go to shade 8 (3.9:1 under white text): darker instead.
  light: { '--mantine-color-dimmed': 'var(--mantine-color-gray-7)', '--mantine-color-teal-filled-hover': '#066a4c' },
  dark: {},
});

const queryClient = new QueryClient({
  defaultOptions: {
    queries: { staleTime: 15_000, retry: (count, err) => count < 2 && !(err as { status?: number }).status, refetchOnWindowFocus: true },
  },
});

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <MantineProvider theme={theme} defaultColorScheme="light" cssVariablesResolver={cssVariablesResolver}>
      <QueryClientProvider client={queryClient}>
        <LangProvider>
          <AuthProvider>
            <App />
          </AuthProvider>
        </LangProvider>
      </QueryClientProvider>
    </MantineProvider>
  </StrictMode>,
);
