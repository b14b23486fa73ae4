/** The header naming the tenant of a native API call; dialects map their own notion (e.g. EnOS orgId). */
export const tenantHeader = 'x-sluice-tenant';

export const tenantOf = (headers: Readonly<Record<string, string>>): string =>
  headers[tenantHeader] || 'default';
