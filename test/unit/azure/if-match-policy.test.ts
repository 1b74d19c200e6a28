import { IF_MATCH_CARRIER_HEADER, ifMatch, ifMatchOnWritesPolicy } from '../../../src/adapters/azure/if-match-policy';

type Policy = ReturnType<typeof ifMatchOnWritesPolicy>;
type Request = Parameters<Policy['sendRequest']>[0];

function request(method: string, headers: Record<string, string>): Request {
  const map = new Map(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  return {
    method,
    headers: { get: (name: string) => map.get(name.toLowerCase()), set: (name: string, value: string) => void map.set(name.toLowerCase(), value), delete: (name: string) => void map.delete(name.toLowerCase()), has: (name: string) => map.has(name.toLowerCase()) },
  } as unknown as Request;
}

describe('If-Match on writes only', () => {
  const policy = ifMatchOnWritesPolicy();
  const next = jest.fn(async (req: Request) => ({ request: req, status: 200, headers: req.headers }) as never);

  test('a PUT carries the etag as If-Match', async () => {
    const req = request('PUT', { [IF_MATCH_CARRIER_HEADER]: 'W/"1"' });
    await policy.sendRequest(req, next);
    expect(req.headers.get('if-match')).toBe('W/"1"');
    expect(req.headers.get(IF_MATCH_CARRIER_HEADER)).toBeUndefined();
  });

  test('polls and the final GET of the same operation do not', async () => {
    const req = request('GET', { [IF_MATCH_CARRIER_HEADER]: 'W/"1"' });
    await policy.sendRequest(req, next);
    expect(req.headers.get('if-match')).toBeUndefined();
    expect(req.headers.get(IF_MATCH_CARRIER_HEADER)).toBeUndefined();
  });

  test('no etag, no header', () => {
    expect(ifMatch(undefined)).toEqual({});
    expect(ifMatch('W/"2"')).toEqual({ requestOptions: { headers: { [IF_MATCH_CARRIER_HEADER]: 'W/"2"' } } });
  });
});
