/** Not built yet: the screen's owner replaces this file. */
import { Title } from '@mantine/core';

export default function AgentRun() {
  return <Title order={1}>AgentRun</Title>;
}
