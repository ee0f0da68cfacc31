export const privacyRoutes = [];
