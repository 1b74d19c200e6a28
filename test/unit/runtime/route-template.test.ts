import { parseRouteTemplate } from '../../../harness/local/runtime/http/route-template';

test('literal segments match case-insensitively, parameters are decoded', () => {
  const route = parseRouteTemplate('clusters/{cluster}/switchover');
  expect(route.match('/clusters/pg%20one/switchover')).toEqual({ cluster: 'pg one' });
  expect(route.match('/Clusters/a/SWITCHOVER/')).toEqual({ cluster: 'a' });
  expect(route.match('/clusters/a/failover')).toBeUndefined();
  expect(route.match('/clusters//switchover')).toBeUndefined();
});

test('optional, default, constrained and catch-all parameters', () => {
  expect(parseRouteTemplate('items/{id?}').match('/items')).toEqual({});
  expect(parseRouteTemplate('items/{id=7}').match('/items')).toEqual({ id: '7' });
  expect(parseRouteTemplate('items/{id:int}').match('/items/12')).toEqual({ id: '12' });
  expect(parseRouteTemplate('items/{id:int}').match('/items/x')).toBeUndefined();
  expect(parseRouteTemplate('v/{name:regex(^pg[0-9]+$)}').match('/v/pg3')).toEqual({ name: 'pg3' });
  expect(parseRouteTemplate('files/{*path}').match('/files/a/b/c.txt')).toEqual({ path: 'a/b/c.txt' });
  expect(parseRouteTemplate('files/{name}.{ext}').match('/files/report.pdf')).toEqual({ name: 'report', ext: 'pdf' });
});
