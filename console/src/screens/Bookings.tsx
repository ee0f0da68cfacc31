/** Not built yet: the screen's owner replaces this file. */
import { Title } from '@mantine/core';

export default function Bookings() {
  return <Title order={1}>Bookings</Title>;
}
