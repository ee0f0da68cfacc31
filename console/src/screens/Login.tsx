import { useState, type FormEvent } from 'react';
import { Alert, Button, Center, Group, Paper, PasswordInput, Stack, Text, TextInput, Title } from '@mantine/core';
import { login } from '../api/session';
import { useT } from '../i18n';
import { shellMessages } from '../shell-messages';
import { LanguageSwitch } from '../components/LanguageSwitch';

export default function Login() {
  const t = useT(shellMessages);
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await login(email, password);
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Center mih="100vh" component="main">
      <Paper withBorder shadow="sm" p="xl" w={420}>
        <form onSubmit={submit} aria-labelledby="login-title">
          <Stack>
            <Group justify="space-between">
              <Title order={1} size="h2" id="login-title">{t('signInTitle')}</Title>
              <LanguageSwitch />
            </Group>
            <Text size="sm" c="dimmed">{t('appName')}</Text>
            {error && <Alert color="red" title={t('signInFailed')} role="alert">{error}</Alert>}
            <TextInput label={t('email')} type="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.currentTarget.value)} />
            <PasswordInput label={t('password')} autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.currentTarget.value)} />
            <Button type="submit" loading={busy}>{t('signIn')}</Button>
            <Text size="xs" c="dimmed">{t('demoHint')}</Text>
          </Stack>
        </form>
      </Paper>
    </Center>
  );
}
