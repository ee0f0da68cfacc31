import { SegmentedControl } from '@mantine/core';
import { useLang, useT, type Lang } from '../i18n';
import { shellMessages } from '../shell-messages';

export function LanguageSwitch() {
  const { lang, setLang } = useLang();
  const t = useT(shellMessages);
  return (
    <SegmentedControl
      size="xs"
      aria-label={t('language')}
      value={lang}
      onChange={(v) => setLang(v as Lang)}
      data={[{ value: 'en', label: 'English' }, { value: 'es', label: 'Español' }]}
    />
  );
}
