import { defineMessages } from '../i18n';

export const myTripsMessages = defineMessages({
  en: {
    title: 'My trips',
    caption: 'Your bookings, newest first',
    reference: 'Reference',
    tour: 'Tour',
    departure: 'Departure',
    status: 'Status',
    pax: 'Travellers',
    total: 'Total',
    due: 'Due',
    actions: 'Actions',
    none: 'You have no bookings yet.',
    loadFailed: 'Could not load your trips',
    more: 'Show more',
  },
  es: {
    title: 'Mis viajes',
    caption: 'Tus reservas, las más recientes primero',
    reference: 'Referencia',
    tour: 'Tour',
    departure: 'Salida',
    status: 'Estado',
    pax: 'Viajeros',
    total: 'Total',
    due: 'Pendiente',
    actions: 'Acciones',
    none: 'Aún no tienes reservas.',
    loadFailed: 'No se pudieron cargar tus viajes',
    more: 'Ver más',
  },
});
