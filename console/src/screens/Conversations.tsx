/** Not built yet: the screen's owner replaces this file. */
import { Title } from '@mantine/core';

export default function Conversations() {
  return <Title order={1}>Conversations</Title>;
}
