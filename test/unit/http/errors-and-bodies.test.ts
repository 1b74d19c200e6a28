import { InvocationContext } from '@azure/functions';
import { UnknownResourceError } from '../../../src/app/services';
import { FailoverError, InvalidInputError } from '../../../src/domain/errors';
import { handleErrors } from '../../../src/http/common';
import { MAX_BODY_BYTES, readJsonBody } from '../../../src/http/problem';

describe('HTTP error answers', () => {
  const logged: unknown[][] = [];
  const context = new InvocationContext({ invocationId: 'inv-7', functionName: 'startSwitchover', logHandler: (level, ...args) => level === 'error' && logged.push(args) });
  const failWith = (error: unknown) => handleErrors(async () => Promise.reject(error), context);

  beforeEach(() => logged.splice(0));

  it('a 500 names where to look, never what went wrong inside; the log has it', async () => {
    const answer = await failWith(new FailoverError('connect ECONNREFUSED 10.0.1.11:5432 as pgfo_admin', { cluster: 'orders', node: 'pg1', step: 'drain' }));
    expect(answer.status).toBe(500);
    expect(answer.jsonBody).toEqual({ type: 'about:blank', status: 500, title: 'Internal error', detail: "the request failed inside the app; the function's log has the details under invocation inv-7", invocationId: 'inv-7' });
    expect(JSON.stringify(answer.jsonBody)).not.toMatch(/10\.0\.1\.11|pgfo_admin|ECONNREFUSED/);
    expect(logged).toHaveLength(1);
    expect(JSON.parse(String(logged[0][0]))).toMatchObject({ event: 'http.internal-error', invocationId: 'inv-7', error: { message: expect.stringContaining('10.0.1.11:5432'), cluster: 'orders', node: 'pg1', step: 'drain' } });
  });

  it('bad input and unknown names keep their own text: it tells the caller the fix', async () => {
    expect(await failWith(new InvalidInputError('target must be the name of a standby node'))).toMatchObject({ status: 400, jsonBody: { detail: 'target must be the name of a standby node' } });
    expect(await failWith(new UnknownResourceError('no cluster named "nope"'))).toMatchObject({ status: 404, jsonBody: { detail: 'no cluster named "nope"' } });
    expect(logged).toEqual([]);
  });
});

describe('request bodies', () => {
  const body = (text: string) => readJsonBody({ text: async () => text });

  it('refuses one over the limit with 413, unparsed', async () => {
    const answer = await body(`{"reason":"${'x'.repeat(MAX_BODY_BYTES)}"}`);
    expect(answer).toMatchObject({ ok: false, response: { status: 413, jsonBody: { title: 'Request body too large', detail: expect.stringMatching(/^the body is 65549 bytes, more than the 65536 this API accepts/) } } });
  });

  it('takes one within it, and an empty one as {}', async () => {
    expect(await body('{"enabled":true}')).toEqual({ ok: true, body: { enabled: true } });
    expect(await body('  ')).toEqual({ ok: true, body: {} });
  });
});
