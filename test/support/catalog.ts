import { type Catalog, type CatalogFile, createCatalog } from '#shared/templates/catalog';

/** A catalog for tests, and the same templates for the fake provider's realistic 105/1009 answers. */
export const TEST_CATALOG_FILE: CatalogFile = {
  templates: [
    { skin: '1', kind: 'verification', text: '【测试】您的验证码是#code#，5分钟内有效。', sign: '1' },
    { skin: '2', kind: 'notification', text: '【测试】尊敬的#name#，您的订单#order#已发货，预计#days#天送达。', sign: '7' },
    { skin: '3', kind: 'marketing', text: '【小店】#name#，新品上架全场8折，回T退订' },
    { skin: '4', kind: 'notification', text: '【测试】#detail#' },
  ],
};

export function testCatalog(): Catalog {
  return createCatalog(TEST_CATALOG_FILE, 'test catalog');
}

export function providerTemplates(extra: Record<string, string> = {}): Record<string, string> {
  return { ...Object.fromEntries(TEST_CATALOG_FILE.templates.map((t) => [t.skin, t.text])), ...extra };
}

/** 10:00 and 21:00 Beijing time. */
export const BEIJING_10AM = new Date('2026-05-01T02:00:00Z');
export const BEIJING_9PM = new Date('2026-05-01T13:00:00Z');
