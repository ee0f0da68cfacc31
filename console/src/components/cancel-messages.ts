import { defineMessages } from '../i18n';

export const cancelMessages = defineMessages({
  en: {
    cancel: 'Cancel booking',
    title: 'Cancel booking {reference}?',
    quoting: 'Working out the refund…',
    refundLine: 'Refund by the cancellation policy: {amount} ({percent}% of {paid} paid, {days} days before departure).',
    needsApproval: 'This refund needs a manager\'s approval: {reason}. The booking stays as it is until it is decided.',
    notCancellable: 'This booking cannot be cancelled: {reason}',
    reason: 'Reason for cancelling',
    confirm: 'Confirm cancellation',
    keep: 'Keep the booking',
    refused: 'The cancellation was refused',
    quoteFailed: 'Could not work out the refund',
    done: 'Cancelled. Refund: {amount}.',
    pending: 'Cancellation requested: a refund of {amount} waits for a manager\'s approval.',
  },
  es: {
    cancel: 'Cancelar reserva',
    title: '¿Cancelar la reserva {reference}?',
    quoting: 'Calculando el reembolso…',
    refundLine: 'Reembolso según la política de cancelación: {amount} ({percent}% de {paid} pagado, {days} días antes de la salida).',
    needsApproval: 'Este reembolso necesita la aprobación de un responsable: {reason}. La reserva sigue igual hasta que se decida.',
    notCancellable: 'Esta reserva no se puede cancelar: {reason}',
    reason: 'Motivo de la cancelación',
    confirm: 'Confirmar la cancelación',
    keep: 'Mantener la reserva',
    refused: 'La cancelación fue rechazada',
    quoteFailed: 'No se pudo calcular el reembolso',
    done: 'Cancelada. Reembolso: {amount}.',
    pending: 'Cancelación solicitada: un reembolso de {amount} espera la aprobación de un responsable.',
  },
});
